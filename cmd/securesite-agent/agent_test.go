package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/smexport"
	"github.com/securesite-io/securesite/internal/testworld"
	"github.com/securesite-io/securesite/internal/testworld/testpki"
)

var (
	kumo     *testworld.Emulator
	awsCfg   awsclient.Config
	agentBin string
)

// TestMain starts kumo and builds the agent once: the tests run the real binary the way systemd
// does, so exit status, stdout and stderr are what an operator sees.
func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	var err error
	if kumo, err = testworld.StartEmulator(""); err != nil {
		return 0, err
	}
	defer kumo.Stop()
	if awsCfg, err = kumo.AWSConfig(context.Background()); err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "securesite-agent-bin")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	agentBin = filepath.Join(dir, "securesite-agent")
	if out, err := exec.Command("go", "build", "-o", agentBin, ".").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building securesite-agent: %w\n%s", err, out)
	}
	return m.Run(), nil
}

const owner = "web/duckhoo"

// export writes a certificate document the way the controller does.
func export(t *testing.T, name string, ca *testpki.CA, l testpki.Leaf) {
	t.Helper()
	doc, err := smexport.DocumentFromPEM(l.FullChain(ca), l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := smexport.New(awsCfg).Export(context.Background(), "us-east-1", name, "", doc, map[string]string{naming.TagOwner: owner}); err != nil {
		t.Fatal(err)
	}
}

func putRaw(t *testing.T, name, value string) {
	t.Helper()
	api := secretsmanager.NewFromConfig(awsCfg.AWS)
	if _, err := api.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
		t.Fatal(err)
	}
}

// site is a server's /etc/securesite plus a reload counter.
type site struct {
	dir, cert, key, counter string
	caFile                  string // the test CA, the agent's --ca-file
}

func newSite(t *testing.T, ca *testpki.CA) site {
	d := t.TempDir()
	s := site{dir: filepath.Join(d, "etc-securesite"), counter: filepath.Join(d, "reloads"), caFile: filepath.Join(d, "ca.pem")}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.caFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	s.cert, s.key = filepath.Join(s.dir, "fullchain.pem"), filepath.Join(s.dir, "privkey.pem")
	return s
}

func (s site) args(secretID string, extra ...string) []string {
	return append([]string{
		"--endpoint-url", kumo.URL, "--region", "us-east-1", "--secret-id", secretID,
		"--cert-file", s.cert, "--key-file", s.key, "--timeout", "10s",
		"--reload-command", "echo reloaded >> " + s.counter, "--ca-file", s.caFile,
	}, extra...)
}

func (s site) reloads(t *testing.T) int {
	data, err := os.ReadFile(s.counter)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "reloaded\n")
}

type result struct {
	code           int
	stdout, stderr string
}

func runAgent(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(agentBin, args...)
	// Credentials for kumo, and nothing from the developer's own AWS setup or an instance role.
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"AWS_PROFILE=", "AWS_ENDPOINT_URL=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

func stat(t *testing.T, path string) (os.FileInfo, *syscall.Stat_t) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st, st.Sys().(*syscall.Stat_t)
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// entries lists a directory, to catch temporary files left behind.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestInstallThenIdleThenRepairThenRenew(t *testing.T) {
	ca := testpki.NewCA(t, "Test Intermediate")
	l := &agentLifecycle{t: t, ca: ca, s: newSite(t, ca), name: "securesite/lifecycle", asRoot: os.Geteuid() == 0}
	if l.asRoot {
		// nobody:nogroup by number, as on a server where the app runs as its own user.
		l.extra = []string{"--owner", "65534", "--group", "65534"}
	}
	l.firstRunInstallsBothFilesAndReloads(ca.IssueNow(t, "infra.duckhoo.site"))
	l.idleRunWritesNothing()
	l.chmod777OnTheKeyIsPutBackWithoutReload()
	l.renewalReplacesBothFilesAndReloadsOnce(ca.IssueNow(t, "infra.duckhoo.site"))
}

// agentLifecycle runs the agent on one server, for one exported certificate, again and again.
type agentLifecycle struct {
	t      *testing.T
	ca     *testpki.CA
	s      site
	name   string
	asRoot bool
	extra  []string
	// what the first run installed
	certInfo, keyInfo os.FileInfo
	keySys            *syscall.Stat_t
}

func (l *agentLifecycle) run(step, wantStdout string) {
	r := runAgent(l.t, l.s.args(l.name, l.extra...)...)
	if r.code != 0 || !strings.Contains(r.stdout, wantStdout) {
		l.t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", step, r.code, r.stdout, r.stderr)
	}
}

// wantReloads: the reload command ran n times in all; format reports the count.
func (l *agentLifecycle) wantReloads(n int, format string) {
	if got := l.s.reloads(l.t); got != n {
		l.t.Fatalf(format, got)
	}
}

// firstRunInstallsBothFilesAndReloads: both files, right content, right modes, one reload.
func (l *agentLifecycle) firstRunInstallsBothFilesAndReloads(first testpki.Leaf) {
	t, s := l.t, l.s
	export(t, l.name, l.ca, first)
	l.run("first run", "installed certificate "+first.Serial)
	if got := read(t, s.cert); got != string(first.CertPEM)+string(l.ca.PEM) {
		t.Fatalf("fullchain.pem is not leaf + chain:\n%s", got)
	}
	if got := read(t, s.key); got != string(first.KeyPEM) {
		t.Fatal("privkey.pem is not the key")
	}
	l.certInfo, _ = stat(t, s.cert)
	l.keyInfo, l.keySys = stat(t, s.key)
	if l.certInfo.Mode().Perm() != 0o644 || l.keyInfo.Mode().Perm() != 0o640 || l.keyInfo.Mode().Perm()&0o007 != 0 {
		t.Fatalf("modes cert %v key %v, want 0644 and 0640 (never world-readable)", l.certInfo.Mode(), l.keyInfo.Mode())
	}
	if l.asRoot && (l.keySys.Uid != 65534 || l.keySys.Gid != 65534) {
		t.Fatalf("key owner %d:%d, want 65534:65534", l.keySys.Uid, l.keySys.Gid)
	}
	l.wantReloads(1, "reload ran %d times, want 1")
	if es := entries(t, s.dir); len(es) != 2 {
		t.Fatalf("directory holds %v, want only the two files", es)
	}
}

// idleRunWritesNothing: nothing new: no write (same inode and mtime), no reload.
func (l *agentLifecycle) idleRunWritesNothing() {
	t, s := l.t, l.s
	l.run("second run", "nothing written")
	for _, p := range []string{s.cert, s.key} {
		before := map[string]os.FileInfo{s.cert: l.certInfo, s.key: l.keyInfo}[p]
		after, afterSys := stat(t, p)
		if afterSys.Ino != before.Sys().(*syscall.Stat_t).Ino || !after.ModTime().Equal(before.ModTime()) {
			t.Fatalf("%s rewritten on a run with nothing new", p)
		}
	}
	l.wantReloads(1, "reload ran %d times after an idle run, want still 1")
}

// chmod777OnTheKeyIsPutBackWithoutReload: the seed's "fix", chmod 777 on the key; the next run
// puts 0640 back, in place, without a reload.
func (l *agentLifecycle) chmod777OnTheKeyIsPutBackWithoutReload() {
	t, s := l.t, l.s
	if err := os.Chmod(s.key, 0o777); err != nil {
		t.Fatal(err)
	}
	l.run("repair run", "mode/owner put back on "+s.key)
	if info, sys := stat(t, s.key); info.Mode().Perm() != 0o640 || sys.Ino != l.keySys.Ino {
		t.Fatalf("after repair key mode %v (inode changed: %v)", info.Mode(), sys.Ino != l.keySys.Ino)
	}
	l.wantReloads(1, "reload ran on a mode repair (%d runs in total)")
}

// renewalReplacesBothFilesAndReloadsOnce: the controller puts a new version; the files are
// replaced (new inodes, never written in place) and reload runs once.
func (l *agentLifecycle) renewalReplacesBothFilesAndReloadsOnce(second testpki.Leaf) {
	t, s := l.t, l.s
	export(t, l.name, l.ca, second)
	l.run("renewal run", "installed certificate "+second.Serial)
	if read(t, s.cert) != string(second.CertPEM)+string(l.ca.PEM) || read(t, s.key) != string(second.KeyPEM) {
		t.Fatal("files not replaced by the renewed certificate")
	}
	if _, sys := stat(t, s.key); sys.Ino == l.keySys.Ino {
		t.Fatal("key replaced in place: a reader could have seen a half-written file")
	}
	l.wantReloads(2, "reload ran %d times in total, want 2")
	if es := entries(t, s.dir); len(es) != 2 {
		t.Fatalf("directory holds %v after renewal", es)
	}
}

func TestFailuresLeaveFilesUntouched(t *testing.T) {
	ca := testpki.NewCA(t, "Test Intermediate")
	closedPort := exportFailureSecrets(t, ca)
	tests := []failureCase{
		{name: "unreachable endpoint", secretID: "securesite/fail-renewed",
			args:     func(site) []string { return []string{"--endpoint-url", "http://127.0.0.1:" + strconv.Itoa(closedPort)} },
			wantCode: 1, wantErr: []string{"cannot reach Secrets Manager at http://127.0.0.1:" + strconv.Itoa(closedPort), "connection refused"}},
		{name: "missing secret", secretID: "securesite/does-not-exist",
			wantCode: 1, wantErr: []string{"secret securesite/does-not-exist not found"}},
		{name: "malformed JSON", secretID: "securesite/fail-json",
			wantCode: 1, wantErr: []string{"malformed JSON"}},
		{name: "key does not match certificate", secretID: "securesite/fail-mismatch",
			wantCode: 1, wantErr: []string{"private key does not match the certificate's public key"}},
		{name: "expired certificate", secretID: "securesite/fail-expired",
			wantCode: 1, wantErr: []string{"expired at"}},
		// A regular file where the key's directory should be: fails for root too, unlike a chmod
		// 0555 directory. The certificate is staged first, so this also shows that no file is
		// renamed until every file is staged.
		{name: "unwritable key directory", secretID: "securesite/fail-renewed",
			args: func(s site) []string {
				return []string{"--key-file", filepath.Join(s.cert, "privkey.pem")}
			},
			wantCode: 1, wantErr: []string{"cannot write", "is not a directory"}},
		{name: "world-readable key mode", secretID: "securesite/fail-renewed",
			args:     func(site) []string { return []string{"--key-mode", "0644"} },
			wantCode: 2, wantErr: []string{"--key-mode 0644 gives other users access to the private key"}},
		{name: "unknown owner", secretID: "securesite/fail-renewed",
			args:     func(site) []string { return []string{"--owner", "no-such-user-securesite"} },
			wantCode: 2, wantErr: []string{"--owner no-such-user-securesite"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, ca) })
	}
}

// exportFailureSecrets puts what the failure cases read: the installed certificate, a renewal,
// a key of another certificate, a value that is not JSON and an expired certificate. It returns
// a port nothing listens on.
func exportFailureSecrets(t *testing.T, ca *testpki.CA) int {
	t.Helper()
	installed := ca.IssueNow(t, "infra.duckhoo.site")
	export(t, "securesite/fail-installed", ca, installed)
	renewed := ca.IssueNow(t, "infra.duckhoo.site")
	export(t, "securesite/fail-renewed", ca, renewed)

	other := ca.IssueNow(t, "other.duckhoo.site")
	mismatched, _ := smexport.DocumentFromPEM(renewed.FullChain(ca), renewed.KeyPEM)
	mismatched.PrivateKey = string(other.KeyPEM)
	value, _ := mismatched.Marshal()
	putRaw(t, "securesite/fail-mismatch", value)
	putRaw(t, "securesite/fail-json", "-----BEGIN CERTIFICATE-----\nnot a JSON document")
	expired := ca.Issue(t, "infra.duckhoo.site", time.Now().Add(-72*time.Hour), time.Now().Add(-time.Hour))
	export(t, "securesite/fail-expired", ca, expired)

	closedPort, err := testworld.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return closedPort
}

type failureCase struct {
	name     string
	secretID string
	args     func(s site) []string
	wantCode int
	wantErr  []string
}

// check installs the current certificate, runs the agent as the case says, and wants it to fail
// with its exit code and a one-line message, the installed files untouched and no reload.
func (tt failureCase) check(t *testing.T, ca *testpki.CA) {
	s := newSite(t, ca)
	if r := runAgent(t, s.args("securesite/fail-installed")...); r.code != 0 {
		t.Fatalf("installing the current certificate: %s", r.stderr)
	}
	certBefore, keyBefore := read(t, s.cert), read(t, s.key)
	_, certSys := stat(t, s.cert)

	var extra []string
	if tt.args != nil {
		extra = tt.args(s)
	}
	r := runAgent(t, s.args(tt.secretID, extra...)...)
	if r.code != tt.wantCode {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.wantCode, r.stdout, r.stderr)
	}
	checkOneLineError(t, r.stderr, tt.wantErr)
	if read(t, s.cert) != certBefore || read(t, s.key) != keyBefore {
		t.Fatal("a failed run changed the installed files")
	}
	if _, sys := stat(t, s.cert); sys.Ino != certSys.Ino {
		t.Fatal("a failed run replaced fullchain.pem")
	}
	if es := entries(t, s.dir); len(es) != 2 {
		t.Fatalf("a failed run left %v behind", es)
	}
	if n := s.reloads(t); n != 1 {
		t.Fatalf("reload ran on a failed run (%d runs in total)", n)
	}
}

// checkOneLineError: what systemd's journal shows is one line, prefixed, saying each of wantErr.
func checkOneLineError(t *testing.T, stderr string, wantErr []string) {
	t.Helper()
	msg := strings.TrimSpace(stderr)
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "securesite-agent: ") {
		t.Fatalf("stderr is not one line: %q", stderr)
	}
	for _, want := range wantErr {
		if !strings.Contains(msg, want) {
			t.Fatalf("stderr %q does not say %q", msg, want)
		}
	}
}

func TestReloadFailureKeepsTheNewFiles(t *testing.T) {
	ca := testpki.NewCA(t, "Test Intermediate")
	s := newSite(t, ca)
	l := ca.IssueNow(t, "infra.duckhoo.site")
	export(t, "securesite/reload-fails", ca, l)
	args := s.args("securesite/reload-fails")
	args = append(args, "--reload-command", "echo 'nginx: [emerg] cannot load certificate' >&2; exit 3")
	r := runAgent(t, args...)
	if r.code == 0 || !strings.Contains(r.stderr, "reload command") || !strings.Contains(r.stderr, "exit status 3") ||
		!strings.Contains(r.stderr, "nginx: [emerg] cannot load certificate") {
		t.Fatalf("exit %d, stderr %q; want non-zero with the command's output", r.code, r.stderr)
	}
	if read(t, s.key) != string(l.KeyPEM) {
		t.Fatal("files rolled back after a failed reload; they should stay new")
	}
}

func TestResolveOwnership(t *testing.T) {
	tests := []struct {
		owner, group string
		want         ownership
		wantErr      bool
	}{
		{want: ownership{-1, -1}},
		{owner: "65534", group: "65534", want: ownership{65534, 65534}},
		{owner: "root", group: "root", want: ownership{0, 0}},
		{owner: "0", want: ownership{0, -1}},
		{owner: "no-such-user-securesite", wantErr: true},
		{group: "no-such-group-securesite", wantErr: true},
		{owner: "-5", wantErr: true},
	}
	for _, tt := range tests {
		got, err := resolveOwnership(tt.owner, tt.group)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("resolveOwnership(%q, %q) = %v, %v; want %v (error %v)", tt.owner, tt.group, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestModeFlags(t *testing.T) {
	tests := []struct {
		args     []string
		cert     os.FileMode
		key      os.FileMode
		parseErr bool
		valid    bool
	}{
		{args: nil, cert: 0o644, key: 0o640, valid: true},
		{args: []string{"--key-mode", "0600"}, cert: 0o644, key: 0o600, valid: true},
		{args: []string{"--key-mode", "640"}, cert: 0o644, key: 0o640, valid: true},
		{args: []string{"--key-mode", "0641"}, cert: 0o644, key: 0o641},
		{args: []string{"--key-mode", "0777"}, cert: 0o644, key: 0o777},
		{args: []string{"--cert-mode", "4755"}, cert: 0o4755, key: 0o640},
		{args: []string{"--key-mode", "rw-r-----"}, parseErr: true},
	}
	for _, tt := range tests {
		cfg, err := parseFlags(append([]string{"--secret-id", "x"}, tt.args...))
		if (err != nil) != tt.parseErr {
			t.Errorf("%v: parse error %v", tt.args, err)
			continue
		}
		if tt.parseErr {
			continue
		}
		if cfg.CertMode != tt.cert || cfg.KeyMode != tt.key {
			t.Errorf("%v: modes %04o %04o", tt.args, uint32(cfg.CertMode), uint32(cfg.KeyMode))
		}
		if err := cfg.validate(); (err == nil) != tt.valid {
			t.Errorf("%v: validate = %v, want valid %v", tt.args, err, tt.valid)
		}
	}
}

// Run is also usable in-process; the clock is injected, so expiry is judged at the caller's time.
func TestRunJudgesExpiryWithTheInjectedClock(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ca := testpki.NewCA(t, "Test Intermediate")
	s := newSite(t, ca)
	l := ca.IssueNow(t, "infra.duckhoo.site")
	export(t, "securesite/in-process", ca, l)
	cfg := Config{
		SecretID: "securesite/in-process", Region: "us-east-1", EndpointURL: kumo.URL,
		CertFile: s.cert, KeyFile: s.key, CertMode: 0o644, KeyMode: 0o600, Timeout: 10 * time.Second, CAFile: s.caFile,
	}

	cfg.Now = func() time.Time { return l.Cert.NotAfter.Add(time.Minute) }
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "expired at") {
		t.Fatalf("Run after NotAfter = %v, want an expiry error", err)
	}
	if _, err := os.Stat(s.cert); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("an expired certificate was written")
	}

	cfg.Now = time.Now
	out, err := Run(context.Background(), cfg)
	if err != nil || !out.Written || out.Reloaded || out.Serial != l.Serial || !out.NotAfter.Equal(l.Cert.NotAfter) || out.VersionID == "" {
		t.Fatalf("Run = %+v, %v", out, err)
	}
	if info, _ := stat(t, s.key); info.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", info.Mode())
	}
}

// TestAgentPinsWhatItInstalls: a certificate that does not chain to the trusted roots, that is not
// for the expected name, or that sits in a secret another SecureSite owns is refused and nothing
// is written; with every pin right it installs.
func TestAgentPinsWhatItInstalls(t *testing.T) {
	ca := testpki.NewCA(t, "Test Intermediate")
	l := ca.IssueNow(t, "infra.duckhoo.site")
	export(t, "securesite/pinned", ca, l)
	rogue := testpki.NewCA(t, "Rogue CA")
	forged := rogue.IssueNow(t, "infra.duckhoo.site")
	export(t, "securesite/rogue", rogue, forged)

	tests := []struct {
		name, secretID string
		extra          []string
		wantErr        string // "" = installs
	}{
		{"all pins hold", "securesite/pinned", []string{"--expect-dns-name", "infra.duckhoo.site", "--expect-owner", owner}, ""},
		{"chain to another CA", "securesite/rogue", nil, "does not chain to a CA in"},
		{"not for the expected name", "securesite/pinned", []string{"--expect-dns-name", "api.other.site"}, "is not for api.other.site"},
		{"secret of another owner", "securesite/pinned", []string{"--expect-owner", "cluster-1/team-b/api"}, `has securesite.io/owner="web/duckhoo", not "cluster-1/team-b/api"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, ca)
			r := runAgent(t, s.args(tt.secretID, tt.extra...)...)
			if tt.wantErr == "" {
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				return
			}
			if r.code != 1 || !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tt.wantErr)
			}
			if _, err := os.Stat(s.cert); !errors.Is(err, os.ErrNotExist) {
				t.Error("a refused certificate was written")
			}
		})
	}
}
