package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/securesite-io/securesite/internal/testworld"
)

// buildOnce shares one manager build between the tests of this package.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "securesite-e2e-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "manager")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = testworld.ProjectRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// kube runs kubectl against the test world's API server, as a user would.
type kube struct {
	t          *testing.T
	kubeconfig string
}

func (k kube) run(args ...string) (string, error) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

func (k kube) must(args ...string) string {
	k.t.Helper()
	out, err := k.run(args...)
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

func (k kube) getJSON(into any, args ...string) {
	k.t.Helper()
	out := k.must(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), into); err != nil {
		k.t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
}

// impersonatingKubeconfig writes a copy of the admin kubeconfig that acts as user, so a process
// using it has exactly the permissions RBAC grants that user.
func impersonatingKubeconfig(t *testing.T, admin, user, path string) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = user
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

// manager is the real manager binary running as a process, the way a Deployment runs it.
type manager struct {
	metricsURL string
	logPath    string
}

func startManager(t *testing.T, w *testworld.World, kubeconfig string) *manager {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	metricsPort, err := testworld.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	probePort, err := testworld.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	m := &manager{
		metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		logPath:    filepath.Join(w.LogDir, "manager.log"),
	}
	logFile, err := os.Create(m.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--aws-endpoint-url="+w.Kumo.URL, "--aws-region=us-east-1",
		"--acme-server="+w.Pebble.DirectoryURL, "--acme-ca-bundle="+w.Pebble.CABundlePath,
		"--acme-email=e2e@duckhoo.site",
		"--dns01-nameservers="+w.DNS.Addr(), "--dns01-skip-authoritative-check",
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
		"--namespace=securesite-system", "--kubeconfig="+kubeconfig)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// SIGTERM, as the kubelet sends: the manager should stop its workers and exit.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Errorf("manager did not exit 15s after SIGTERM")
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			tail, _ := os.ReadFile(m.logPath)
			if len(tail) > 6000 {
				tail = tail[len(tail)-6000:]
			}
			t.Logf("--- end of manager.log:\n%s", tail)
		}
	})
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m
			}
		}
		select {
		case <-exited:
			t.Fatalf("manager exited before it was ready; log: %s", m.logPath)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("manager not ready after 30s; log: %s", m.logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metrics returns the metric lines (no comments) of the manager's endpoint.
func (m *manager) metrics(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get(m.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(body), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// metricLines returns the lines whose name is name and that carry every label given as
// `key="value"`.
func metricLines(lines []string, name string, labels ...string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		ok := true
		for _, lb := range labels {
			ok = ok && strings.Contains(l, lb)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// emulatorAWS is an SDK configuration for kumo that the test's own checks use, apart from the
// manager's clients.
func emulatorAWS(w *testworld.World) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testworld.EmulatorCredentials, nil }),
		BaseEndpoint: aws.String(w.Kumo.URL),
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		problem := check()
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after %s", what, problem, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
