package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/securesite-io/securesite/internal/testworld"
)

// kube runs kubectl against the test world's API server, as a user would.
type kube struct {
	t          *testing.T
	kubeconfig string
}

func (k kube) run(args ...string) (string, error) {
	k.t.Helper()
	return k.runIn("", args...)
}

// runIn is run with stdin (manifests for `apply -f -`).
func (k kube) runIn(stdin string, args ...string) (string, error) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
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

func (k kube) mustIn(stdin string, args ...string) string {
	k.t.Helper()
	out, err := k.runIn(stdin, args...)
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

// metrics returns the manager's metric lines.
func metrics(t *testing.T, m *testworld.ManagerProcess) []string {
	t.Helper()
	lines, err := m.Metrics()
	if err != nil {
		t.Fatal(err)
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

// sampleBucketRegion is spec.staticSite.region of config/samples/securesite_v1alpha1_securesite.yaml.
const sampleBucketRegion = "ap-northeast-2"

// emulatorAWS is an SDK configuration for the emulator that the test's own checks use, apart from the
// manager's clients.
func emulatorAWS(w *testworld.World) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testworld.EmulatorCredentials, nil }),
		BaseEndpoint: aws.String(w.AWS.URL),
	}
}

// managerKubeconfigAs writes a kubeconfig that acts as user (impersonation of the test world's
// admin) and proves it does: as system:masters, any RBAC check would pass.
func managerKubeconfigAs(t *testing.T, w *testworld.World, user string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manager.kubeconfig")
	impersonatingKubeconfig(t, w.Kubeconfig, user, path)
	if out, _ := (kube{t: t, kubeconfig: path}).run("auth", "can-i", "create", "namespaces"); strings.TrimSpace(out) != "no" {
		t.Fatalf("the manager's kubeconfig may create namespaces (%q): it is not acting as %s", out, user)
	}
	return path
}

// waitReady waits, as a user does with kubectl wait, for each named SecureSite to be Ready, and
// shows kubectl describe when one is not.
func waitReady(t *testing.T, k kube, namespace string, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := k.run("wait", "-n", namespace, "--for=condition=Ready", "securesite/"+name, "--timeout=5m"); err != nil {
			out, _ := k.run("describe", "-n", namespace, "securesite/"+name)
			t.Fatalf("%v\n%s", err, out)
		}
	}
}
