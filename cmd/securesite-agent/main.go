// Command securesite-agent installs a SecureSite certificate on a server outside Kubernetes (an
// EC2 instance behind an Elastic IP): it reads the document SecureSite exported to AWS Secrets
// Manager, checks it, writes fullchain.pem and privkey.pem atomically with the modes and owner
// the app needs, and runs a reload command when they changed. Run it from a systemd timer
// (deploy/ec2). Exit status: 0 installed or already current, 1 failed, 2 bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/securesite-io/securesite/internal/version"
)

// octalMode is a flag holding a permission mode written like chmod's (0640).
type octalMode struct{ m *os.FileMode }

func (o octalMode) String() string {
	if o.m == nil {
		return ""
	}
	return fmt.Sprintf("%04o", uint32(*o.m))
}

func (o octalMode) Set(s string) error {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return fmt.Errorf("%q is not an octal mode such as 0640", s)
	}
	*o.m = os.FileMode(n)
	return nil
}

// errShowVersion is parseFlags' answer to --version: print it and exit 0.
var errShowVersion = errors.New("version requested")

func parseFlags(args []string) (Config, error) {
	cfg := Config{CertMode: 0o644, KeyMode: 0o640}
	fs := flag.NewFlagSet("securesite-agent", flag.ContinueOnError)
	fs.StringVar(&cfg.SecretID, "secret-id", "", "name or ARN of the Secrets Manager secret SecureSite exports to (required)")
	fs.StringVar(&cfg.Region, "region", "", "AWS region of the secret (default: from the ARN, AWS_REGION, or the instance metadata)")
	fs.StringVar(&cfg.EndpointURL, "endpoint-url", "", "Secrets Manager endpoint override (emulators, VPC endpoints)")
	fs.StringVar(&cfg.CertFile, "cert-file", "/etc/securesite/fullchain.pem", "certificate file to write: leaf followed by the chain")
	fs.StringVar(&cfg.KeyFile, "key-file", "/etc/securesite/privkey.pem", "private key file to write")
	fs.StringVar(&cfg.Owner, "owner", "", "owner of both files, user name or uid (default: the running user)")
	fs.StringVar(&cfg.Group, "group", "", "group of both files, group name or gid; give it the app's group so it can read the key (default: the running user's)")
	fs.Var(octalMode{&cfg.CertMode}, "cert-mode", "mode of the certificate file")
	fs.Var(octalMode{&cfg.KeyMode}, "key-mode", "mode of the key file; modes readable by others are refused")
	fs.StringVar(&cfg.ReloadCommand, "reload-command", "", "run with /bin/sh -c after the files changed (e.g. 'systemctl reload nginx')")
	fs.DurationVar(&cfg.Timeout, "timeout", time.Minute, "limit for reading the secret, and separately for the reload command")
	var names string
	fs.StringVar(&names, "expect-dns-name", "", "comma-separated names the certificate must cover (e.g. infra.duckhoo.site); a certificate for other names is not installed")
	fs.StringVar(&cfg.ExpectOwner, "expect-owner", "", "the secret's securesite.io/owner tag must be this: <owner id>/<namespace>/<name> of the SecureSite (the controller logs its owner id at start); needs secretsmanager:DescribeSecret")
	fs.StringVar(&cfg.CAFile, "ca-file", "", "PEM roots the certificate chain must verify to (default: the system's roots)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *showVersion {
		return cfg, errShowVersion
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			cfg.ExpectDNSNames = append(cfg.ExpectDNSNames, n)
		}
	}
	return cfg, nil
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cfg, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if errors.Is(err, errShowVersion) {
			fmt.Println(version.String("securesite-agent"))
			return 0
		}
		fmt.Fprintln(os.Stderr, "securesite-agent:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "securesite-agent:", err)
		var usage *UsageError
		if errors.As(err, &usage) {
			return 2
		}
		return 1
	}
	fmt.Println("securesite-agent:", out.Message(cfg))
	return 0
}
