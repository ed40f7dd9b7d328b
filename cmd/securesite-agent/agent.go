package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/securesite-io/securesite/internal/smexport/certdoc"
)

// Config is what the flags say.
type Config struct {
	SecretID      string // name or ARN of the secret SecureSite exports to
	Region        string // default: the ARN's region, else the SDK chain (AWS_REGION, instance metadata)
	EndpointURL   string // AWS emulators; AWS_ENDPOINT_URL works too
	CertFile      string // leaf + chain
	KeyFile       string
	Owner, Group  string // names or numeric ids; "" keeps the running user's
	CertMode      os.FileMode
	KeyMode       os.FileMode
	ReloadCommand string // run with /bin/sh -c after the files changed
	Timeout       time.Duration
	Now           func() time.Time

	// What the agent pins before it writes anything.
	ExpectDNSNames []string // names the certificate must cover
	ExpectOwner    string   // the secret's securesite.io/owner tag (<owner id>/<namespace>/<name>)
	CAFile         string   // roots the chain must verify to; "" = the system's
}

// Outcome is what a successful run did.
type Outcome struct {
	Serial    string
	NotAfter  time.Time
	VersionID string
	Written   bool     // the files were replaced
	Repaired  []string // files whose mode or owner were put back, content untouched
	Reloaded  bool
}

// UsageError is a configuration the agent refuses before touching the network or the disk.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

// ReloadError means the new files are in place but the reload command failed, so the server
// may still be serving the old certificate.
type ReloadError struct {
	Command string
	Err     error
	Output  string
}

func (e *ReloadError) Error() string {
	msg := fmt.Sprintf("the new certificate is installed but the reload command %q failed (%v)", e.Command, e.Err)
	if out := strings.TrimSpace(e.Output); out != "" {
		msg += ": " + out
	}
	return msg
}

// Run fetches the secret, checks it and installs it when it differs from what is on disk. Every
// failure before the files are renamed leaves them byte for byte as they were.
func Run(ctx context.Context, cfg Config) (Outcome, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if err := cfg.validate(); err != nil {
		return Outcome{}, err
	}
	owner, err := resolveOwnership(cfg.Owner, cfg.Group)
	if err != nil {
		return Outcome{}, err
	}

	raw, versionID, err := fetch(ctx, cfg)
	if err != nil {
		return Outcome{}, err
	}
	doc, err := certdoc.Parse(raw)
	if err != nil {
		return Outcome{}, fmt.Errorf("secret %s: %w", cfg.SecretID, err)
	}
	v, err := doc.Verify(cfg.Now())
	if err != nil {
		return Outcome{}, fmt.Errorf("secret %s (version %s) is not installable: %w", cfg.SecretID, versionID, err)
	}
	if err := verifyTrust(v, cfg, cfg.Now()); err != nil {
		return Outcome{}, fmt.Errorf("secret %s (version %s) is not installable: %w", cfg.SecretID, versionID, err)
	}
	out := Outcome{Serial: certdoc.SerialHex(v.Leaf), NotAfter: v.Leaf.NotAfter, VersionID: versionID}

	files := []desiredFile{
		{path: cfg.CertFile, data: doc.FullChainPEM(), mode: cfg.CertMode, owner: owner},
		{path: cfg.KeyFile, data: doc.KeyPEM(), mode: cfg.KeyMode, owner: owner},
	}
	if installedSerial(cfg.CertFile) == out.Serial && sameContent(cfg.KeyFile, doc.KeyPEM()) {
		// Same certificate already served: no write, no reload. Modes and owners are still put
		// back, which undoes the by-hand "chmod 777" without restarting anything.
		out.Repaired, err = repairMetadata(files)
		return out, err
	}

	if err := install(files); err != nil {
		return out, err
	}
	out.Written = true

	if cfg.ReloadCommand != "" {
		if err := reload(ctx, cfg); err != nil {
			return out, err
		}
		out.Reloaded = true
	}
	return out, nil
}

func fetch(ctx context.Context, cfg Config) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	region := cfg.Region
	if region == "" {
		if a, err := arn.Parse(cfg.SecretID); err == nil {
			region = a.Region
		}
	}
	opts := []func(*config.LoadOptions) error{config.WithEC2IMDSRegion()}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.EndpointURL != "" {
		awsCfg.BaseEndpoint = aws.String(cfg.EndpointURL)
	}
	if awsCfg.Region == "" {
		return nil, "", &UsageError{"no AWS region: pass --region, a secret ARN, or set AWS_REGION"}
	}
	api := secretsmanager.NewFromConfig(awsCfg)
	if err := checkOwner(ctx, api, cfg); err != nil {
		return nil, "", err
	}
	res, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(cfg.SecretID)})
	if err != nil {
		return nil, "", describeFetchError(ctx, cfg, awsCfg.Region, err)
	}
	if res.SecretString == nil {
		return nil, "", fmt.Errorf("secret %s holds binary data, not a SecureSite certificate document", cfg.SecretID)
	}
	return []byte(aws.ToString(res.SecretString)), aws.ToString(res.VersionId), nil
}

// describeFetchError turns the SDK's error into the sentence an operator reading journalctl needs.
func describeFetchError(ctx context.Context, cfg Config, region string, err error) error {
	where := "Secrets Manager in " + region
	if cfg.EndpointURL != "" {
		where = "Secrets Manager at " + cfg.EndpointURL
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "ResourceNotFoundException":
			return fmt.Errorf("secret %s not found in %s (check --secret-id and --region, and that the SecureSite has certificate.export.secretsManager)", cfg.SecretID, where)
		case "AccessDeniedException":
			return fmt.Errorf("not allowed to read secret %s: the instance role needs secretsmanager:GetSecretValue on it (%s)", cfg.SecretID, apiErr.ErrorMessage())
		case "DecryptionFailure":
			return fmt.Errorf("cannot decrypt secret %s: the instance role needs kms:Decrypt on the secret's KMS key (%s)", cfg.SecretID, apiErr.ErrorMessage())
		}
		return fmt.Errorf("reading secret %s from %s: %s: %s", cfg.SecretID, where, apiErr.ErrorCode(), apiErr.ErrorMessage())
	}
	if ctx.Err() != nil {
		return fmt.Errorf("cannot reach %s: no answer within --timeout %s", where, cfg.Timeout)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return fmt.Errorf("cannot reach %s: %w", where, opErr)
	}
	return fmt.Errorf("cannot reach %s: %w", where, err)
}

func reload(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/bin/sh", "-c", cfg.ReloadCommand).CombinedOutput()
	if err != nil {
		return &ReloadError{Command: cfg.ReloadCommand, Err: err, Output: string(out)}
	}
	return nil
}

// Message is the line printed after a successful run.
func (o Outcome) Message(cfg Config) string {
	cert := fmt.Sprintf("certificate %s (expires %s, secret version %s)", o.Serial, o.NotAfter.UTC().Format(time.RFC3339), o.VersionID)
	switch {
	case o.Written && o.Reloaded:
		return fmt.Sprintf("installed %s to %s and %s; reload command ran", cert, cfg.CertFile, cfg.KeyFile)
	case o.Written:
		return fmt.Sprintf("installed %s to %s and %s; no reload command set", cert, cfg.CertFile, cfg.KeyFile)
	case len(o.Repaired) > 0:
		return fmt.Sprintf("%s already installed; nothing written; mode/owner put back on %s", cert, strings.Join(o.Repaired, ", "))
	default:
		return fmt.Sprintf("%s already installed in %s; nothing written", cert, cfg.CertFile)
	}
}

// repairMetadata puts back the modes and owners of installed files; it returns the paths it fixed.
func repairMetadata(files []desiredFile) ([]string, error) {
	var repaired []string
	for _, f := range files {
		fixed, err := f.repairMetadata()
		if err != nil {
			return repaired, err
		}
		if fixed {
			repaired = append(repaired, f.path)
		}
	}
	return repaired, nil
}
