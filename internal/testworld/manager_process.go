package testworld

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var managerBuild struct {
	once sync.Once
	path string
	err  error
}

// ManagerBinary builds the manager from the working tree, once per test process.
// Every process started from it is stopped when the test binary ends (see guardWorld).
func ManagerBinary() (string, error) {
	if err := guardWorld(); err != nil {
		return "", err
	}
	b := &managerBuild
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "securesite-manager-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "manager")
		cmd := exec.Command("go", "build", "-o", b.path, ".")
		cmd.Dir = ProjectRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build manager: %w\n%s", err, out)
		}
	})
	return b.path, b.err
}

// ManagerOptions change how StartManager runs the binary.
type ManagerOptions struct {
	// Kubeconfig replaces the world's (e.g. one impersonating the install's ServiceAccount).
	Kubeconfig string
	// Args are added after the test world's flags (later flags win).
	Args []string
	// Binary runs this manager binary instead of the one built from the working tree (to compare
	// two builds in one world).
	Binary string
	// Env is added to the manager's environment (e.g. GODEBUG=memprofilerate=1 for an exact heap
	// profile of the manager alone).
	Env []string
	// LogName is the log file in the world's LogDir (appended to); default manager.log.
	LogName string
	// NoWait returns as soon as the process started, without waiting for /readyz (crash tests
	// kill it during start-up too).
	NoWait bool
}

// ManagerProcess is the real manager binary running against a World as its own process: what a
// user runs, with its own memory and its own fate under kill -9.
type ManagerProcess struct {
	Cmd        *exec.Cmd
	MetricsURL string
	LogPath    string
	exited     chan struct{}
}

// StartManager runs the manager binary against the world with the flags hack/demo.sh uses, waits
// until /readyz answers, and stops it (SIGTERM, then SIGKILL after 15s) when the test ends.
func (w *World) StartManager(t testing.TB, o ManagerOptions) *ManagerProcess {
	t.Helper()
	bin := o.Binary
	if bin == "" {
		var err error
		if bin, err = ManagerBinary(); err != nil {
			t.Fatal(err)
		}
	} else if err := guardWorld(); err != nil {
		t.Fatal(err)
	}
	metricsPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	probePort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := o.Kubeconfig
	if kubeconfig == "" {
		kubeconfig = w.Kubeconfig
	}
	if o.LogName == "" {
		o.LogName = "manager.log"
	}
	m := &ManagerProcess{
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		LogPath:    filepath.Join(w.LogDir, o.LogName),
		exited:     make(chan struct{}),
	}
	logFile, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		"--aws-endpoint-url=" + w.AWS.URL, "--aws-region=us-east-1",
		"--acme-server=" + w.Pebble.DirectoryURL, "--acme-ca-bundle=" + w.Pebble.CABundlePath,
		"--acme-email=ops@example.test",
		"--dns01-nameservers=" + w.DNS.Addr(), "--dns01-skip-authoritative-check",
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
		"--namespace=securesite-system", "--kubeconfig=" + kubeconfig,
	}, o.Args...)
	m.Cmd = exec.Command(bin, args...)
	// The emulators speak plain HTTP. An AWS_CA_BUNDLE in the machine's environment would have the
	// SDK parse that bundle into a pool of its own (~0.24 MB of a system bundle, held for the
	// process's life) that a production pod, which sets none, does not hold.
	m.Cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_CA_BUNDLE=") })
	m.Cmd.Env = append(m.Cmd.Env, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "KUBECONFIG="+kubeconfig)
	m.Cmd.Env = append(m.Cmd.Env, o.Env...)
	m.Cmd.Stdout, m.Cmd.Stderr = logFile, logFile
	if err := m.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = m.Cmd.Wait(); logFile.Close(); close(m.exited) }()
	fmt.Fprintf(logFile, "=== test: started manager pid %d at %s\n", m.Cmd.Process.Pid, time.Now().Format(time.RFC3339Nano))
	t.Cleanup(func() { m.stopAndReport(t, o.LogName) })
	if o.NoWait {
		return m
	}
	m.waitReady(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort))
	return m
}

// stopAndReport stops the manager at the end of a test, and shows the end of its log when the
// test failed.
func (m *ManagerProcess) stopAndReport(t testing.TB, logName string) {
	if !m.Stop(15 * time.Second) {
		t.Errorf("manager did not exit 15s after SIGTERM")
	}
	if t.Failed() {
		tail, _ := os.ReadFile(m.LogPath)
		if len(tail) > 6000 {
			tail = tail[len(tail)-6000:]
		}
		t.Logf("--- end of %s:\n%s", logName, tail)
	}
}

// waitReady waits until the manager's readiness probe answers.
func (m *ManagerProcess) waitReady(t testing.TB, ready string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-m.exited:
			t.Fatalf("manager exited before it was ready; log: %s", m.LogPath)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("manager not ready after 60s; log: %s", m.LogPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kill ends the process with SIGKILL, as a crash or an OOM kill would, and waits for it.
func (m *ManagerProcess) Kill() {
	_ = m.Cmd.Process.Kill()
	<-m.exited
}

// Stop sends SIGTERM, as the kubelet does, and kills the process if it has not exited within
// grace; it reports whether it exited on its own.
func (m *ManagerProcess) Stop(grace time.Duration) bool {
	select {
	case <-m.exited:
		return true
	default:
	}
	_ = m.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
		return true
	case <-time.After(grace):
		m.Kill()
		return false
	}
}

// Metrics returns the metric lines (no comments) of the manager's endpoint.
func (m *ManagerProcess) Metrics() ([]string, error) {
	resp, err := http.Get(m.MetricsURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(string(body), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines, nil
}
