package testworld

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/securesite-io/securesite/internal/certs"
)

// Pebble is a running pebble ACME CA.
type Pebble struct {
	// DirectoryURL is the ACME directory, https://127.0.0.1:<port>/dir.
	DirectoryURL string
	// ManagementURL is pebble's management interface (roots, intermediates), same TLS certificate.
	ManagementURL string
	// CABundlePath is a PEM file with the root that signs pebble's own TLS certificate (not the
	// root of the certificates pebble issues: that one is generated at each start, see RootCAs).
	CABundlePath string

	dir    string
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}
}

// PebbleOptions changes pebble's behaviour for fault tests. The zero value is the normal world:
// real DNS-01 validation, no sleeping, no rejected nonces.
type PebbleOptions struct {
	// Env adds or overrides pebble's environment, e.g. "PEBBLE_WFE_NONCEREJECT=50" (percent of
	// good nonces rejected), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_AUTHZREUSE=0",
	// "PEBBLE_CHAIN_LENGTH=2" (intermediates in the chain).
	Env []string
	// ValidityPeriod of issued certificates in the default profile; 0 means pebble's 90 days.
	// Renewal tests use a short one.
	ValidityPeriod time.Duration
	// RetryAfter is the Retry-After pebble sends for pending authorizations and orders; 0 means 1s
	// (pebble's sample config says 3s and 5s, which only slows the tests down).
	RetryAfter time.Duration
}

// StartPebble starts pebble with the default options; see StartPebbleWith.
func StartPebble(dnsAddr, logDir string) (*Pebble, error) {
	return StartPebbleWith(dnsAddr, logDir, PebbleOptions{})
}

// StartPebbleWith starts pebble on free loopback ports, validating DNS-01 challenges against the
// DNS server at dnsAddr, and waits until its directory answers over TLS. Its log goes to
// logDir/pebble.log when logDir is set.
func StartPebbleWith(dnsAddr, logDir string, o PebbleOptions) (*Pebble, error) {
	bin, err := Binary("pebble")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testworld-pebble-")
	if err != nil {
		return nil, err
	}
	if err := copyPebbleTLSFiles(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// Two free ports picked separately can race with another process; retry a bind failure.
	var lastErr error
	for range 3 {
		p, err := startPebbleOnce(bin, dir, dnsAddr, logDir, o)
		if err == nil {
			return p, nil
		}
		lastErr = err
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func startPebbleOnce(bin, dir, dnsAddr, logDir string, o PebbleOptions) (*Pebble, error) {
	listen, err := FreePort()
	if err != nil {
		return nil, err
	}
	mgmt, err := FreePort()
	if err != nil {
		return nil, err
	}
	configPath := filepath.Join(dir, "pebble-config.json")
	if err := writePebbleConfig(configPath, dir, listen, mgmt, o); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-config", configPath, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=0", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.Env = append(cmd.Env, o.Env...) // later entries win
	p := &Pebble{
		DirectoryURL:  fmt.Sprintf("https://127.0.0.1:%d/dir", listen),
		ManagementURL: fmt.Sprintf("https://127.0.0.1:%d", mgmt),
		CABundlePath:  filepath.Join(dir, "pebble.minica.pem"),
		dir:           dir,
		cmd:           cmd,
	}
	// The start of pebble's output explains a failed start (bad config, port taken).
	out := &headWriter{max: 8 << 10}
	var w io.Writer = out
	if logDir != "" {
		if p.log, err = os.OpenFile(filepath.Join(logDir, "pebble.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return nil, err
		}
		w = io.MultiWriter(p.log, out)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		p.closeLog()
		return nil, fmt.Errorf("starting pebble: %w", err)
	}
	p.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(p.exited) }()
	if err := p.waitServing(out); err != nil {
		return nil, err
	}
	return p, nil
}

// waitServing waits until pebble answers its directory; out holds the start of its output.
func (p *Pebble) waitServing(out fmt.Stringer) error {
	client, err := p.HTTPClient()
	if err != nil {
		p.stop()
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			p.closeLog()
			return fmt.Errorf("pebble exited at start: %s", out)
		default:
		}
		if resp, err := client.Get(p.DirectoryURL); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stop()
	return fmt.Errorf("pebble did not serve %s within 15s: %s", p.DirectoryURL, out)
}

func writePebbleConfig(path, dir string, listen, mgmt int, o PebbleOptions) error {
	retry := int(o.RetryAfter / time.Second)
	if retry <= 0 {
		retry = 1
	}
	profile := map[string]any{"description": "test world default"}
	if o.ValidityPeriod > 0 {
		profile["validityPeriod"] = int64(o.ValidityPeriod / time.Second)
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           "127.0.0.1:" + strconv.Itoa(listen),
		"managementListenAddress": "127.0.0.1:" + strconv.Itoa(mgmt),
		"certificate":             filepath.Join(dir, "localhost.pem"),
		"privateKey":              filepath.Join(dir, "localhost.key"),
		// http-01 and tls-alpn-01 are not used here (no listener on these ports): DNS-01 only.
		"httpPort":     5002,
		"tlsPort":      5001,
		"keyAlgorithm": "ecdsa",
		"retryAfter":   map[string]int{"authz": retry, "order": retry},
		"profiles":     map[string]any{"default": profile},
	}}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// Stop kills pebble and removes its temporary files.
func (p *Pebble) Stop() {
	if p == nil {
		return
	}
	p.stop()
	os.RemoveAll(p.dir)
}

func (p *Pebble) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.closeLog()
}

func (p *Pebble) closeLog() {
	if p.log != nil {
		_ = p.log.Close()
		p.log = nil
	}
}

// HTTPClient returns a client that trusts only pebble's TLS root: what an ACME client needs to talk
// to this CA.
func (p *Pebble) HTTPClient() (*http.Client, error) {
	pool, err := p.tlsRoots()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, nil
}

func (p *Pebble) tlsRoots() (*x509.CertPool, error) {
	b, err := os.ReadFile(p.CABundlePath)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("no certificate in %s", p.CABundlePath)
	}
	return pool, nil
}

// RootCAs returns the roots of the certificates pebble issues (generated anew at each start):
// /roots/0 and any alternates.
func (p *Pebble) RootCAs(ctx context.Context) ([]*x509.Certificate, error) {
	return p.managementCerts(ctx, "/roots/")
}

// IntermediateCAs returns, per root, the intermediate that signs leaves (/intermediates/N). With
// PEBBLE_CHAIN_LENGTH > 2 the higher intermediates are only in the issued chain.
func (p *Pebble) IntermediateCAs(ctx context.Context) ([]*x509.Certificate, error) {
	return p.managementCerts(ctx, "/intermediates/")
}

// VerifyOptions returns options that verify a certificate issued by this pebble:
// leaf.Verify(opts) with opts.DNSName set by the caller.
func (p *Pebble) VerifyOptions(ctx context.Context) (x509.VerifyOptions, error) {
	roots, err := p.RootCAs(ctx)
	if err != nil {
		return x509.VerifyOptions{}, err
	}
	inters, err := p.IntermediateCAs(ctx)
	if err != nil {
		return x509.VerifyOptions{}, err
	}
	opts := x509.VerifyOptions{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	for _, c := range roots {
		opts.Roots.AddCert(c)
	}
	for _, c := range inters {
		opts.Intermediates.AddCert(c)
	}
	return opts, nil
}

// managementCerts reads prefix0, prefix1, … until pebble answers 404 (it has one per alternate root).
func (p *Pebble) managementCerts(ctx context.Context, prefix string) ([]*x509.Certificate, error) {
	client, err := p.HTTPClient()
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for i := 0; ; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.ManagementURL+prefix+strconv.Itoa(i), nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusNotFound && i > 0 {
			return out, nil
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s%d: %s", prefix, i, resp.Status)
		}
		got, err := certs.ParseCertificates(body)
		if err != nil {
			return nil, fmt.Errorf("GET %s%d: %w", prefix, i, err)
		}
		out = append(out, got...)
	}
}

// copyPebbleTLSFiles copies the TLS certificate for pebble's own listeners (localhost and
// 127.0.0.1, signed by a test "minica" root) from pebble's module source, where it ships for
// exactly this use; the files are not committed here.
func copyPebbleTLSFiles(dir string) error {
	src, err := pebbleModuleDir()
	if err != nil {
		return err
	}
	for from, to := range map[string]string{
		"test/certs/localhost/cert.pem": "localhost.pem",
		"test/certs/localhost/key.pem":  "localhost.key",
		"test/certs/pebble.minica.pem":  "pebble.minica.pem",
	} {
		b, err := os.ReadFile(filepath.Join(src, from))
		if err != nil {
			return fmt.Errorf("pebble TLS files: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// pebbleModuleDir finds pebble's module source for the version in bin/ (as recorded by
// hack/build-world.sh, which downloaded it to build the binary).
func pebbleModuleDir() (string, error) {
	version := "v2.10.1"
	if b, err := os.ReadFile(filepath.Join(BinDir(), ".pebble.version")); err == nil {
		version = strings.TrimSpace(string(b))
	}
	mod := "github.com/letsencrypt/pebble/v2@" + version
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			return "", fmt.Errorf("locating the Go module cache for %s: %w", mod, err)
		}
		cache = strings.TrimSpace(string(out))
	}
	dir := filepath.Join(cache, mod)
	if _, err := os.Stat(filepath.Join(dir, "test", "certs")); err == nil {
		return dir, nil
	}
	// Outside any module, so this project's go.mod and go.sum stay untouched.
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("pebble source %s not in the module cache and `go mod download` failed (run `make test-world`): %w", mod, err)
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no directory in %q", mod, out)
	}
	return info.Dir, nil
}

// headWriter keeps the first max bytes written to it.
type headWriter struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (w *headWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - len(w.buf); room > 0 {
		w.buf = append(w.buf, b[:min(room, len(b))]...)
	}
	return len(b), nil
}

func (w *headWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(string(w.buf))
}

// TLSFiles are the certificate and key pebble serves its own HTTPS with (localhost and
// 127.0.0.1, trusted through CABundlePath): a proxy in front of pebble serves the same, so
// clients trust it as they trust pebble.
func (p *Pebble) TLSFiles() (certFile, keyFile string) {
	return filepath.Join(p.dir, "localhost.pem"), filepath.Join(p.dir, "localhost.key")
}
