package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/securesite-io/securesite/internal/smexport/certdoc"
)

// ownerTag is the tag SecureSite puts on what it exports (internal/naming.TagOwner).
const ownerTag = "securesite.io/owner"

// checkOwner refuses a secret whose owner tag is not the expected SecureSite: whoever may write
// the secret (or create one under the expected name first) must not choose what the server
// installs.
func checkOwner(ctx context.Context, api *secretsmanager.Client, cfg Config) error {
	if cfg.ExpectOwner == "" {
		return nil
	}
	desc, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(cfg.SecretID)})
	if err != nil {
		return fmt.Errorf("reading the tags of secret %s (the instance role needs secretsmanager:DescribeSecret): %w", cfg.SecretID, err)
	}
	got := ""
	for _, t := range desc.Tags {
		if aws.ToString(t.Key) == ownerTag {
			got = aws.ToString(t.Value)
		}
	}
	if got != cfg.ExpectOwner {
		return fmt.Errorf("secret %s has %s=%q, not %q (--expect-owner): not installed", cfg.SecretID, ownerTag, got, cfg.ExpectOwner)
	}
	return nil
}

// verifyTrust checks that the certificate chains to a trusted root (the system's, or --ca-file's)
// for server authentication, and covers every --expect-dns-name, before anything is written.
func verifyTrust(v *certdoc.Verified, cfg Config, now time.Time) error {
	roots, err := trustedRoots(cfg.CAFile)
	if err != nil {
		return err
	}
	inter := x509.NewCertPool()
	for _, c := range v.Chain {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if _, err := v.Leaf.Verify(opts); err != nil {
		from := "the system's roots"
		if cfg.CAFile != "" {
			from = cfg.CAFile
		}
		return fmt.Errorf("certificate %s does not chain to a CA in %s: %w", certdoc.SerialHex(v.Leaf), from, err)
	}
	for _, name := range cfg.ExpectDNSNames {
		if err := v.Leaf.VerifyHostname(name); err != nil {
			return fmt.Errorf("certificate %s is not for %s (--expect-dns-name; it names %v)", certdoc.SerialHex(v.Leaf), name, v.Leaf.DNSNames)
		}
	}
	return nil
}

func trustedRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		roots, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("loading the system's CA roots (or pass --ca-file): %w", err)
		}
		return roots, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, &UsageError{fmt.Sprintf("reading --ca-file: %v", err)}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, &UsageError{fmt.Sprintf("--ca-file %s holds no PEM certificate", caFile)}
	}
	return roots, nil
}
