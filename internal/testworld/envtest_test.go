package testworld

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The API server starts with the project's CRDs, and kubectl, given the written kubeconfig, acts
// as an administrator: what end-to-end tests and the demo rely on.
func TestAPIServerWithKubectl(t *testing.T) {
	env, cfg, err := StartAPIServerLogs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := WriteKubeconfig(cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := kubectl("get", "crd", "securesites.securesite.io", "-o", "name"); got != "customresourcedefinition.apiextensions.k8s.io/securesites.securesite.io" {
		t.Errorf("CRD: got %q", got)
	}
	kubectl("get", "securesites", "--all-namespaces")
	if got := kubectl("auth", "can-i", "delete", "secrets", "--all-namespaces"); got != "yes" {
		t.Errorf("kubectl auth can-i: got %q, want yes", got)
	}
}
