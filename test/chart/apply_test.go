package chart

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/securesite-io/securesite/internal/testworld"
)

// TestChartAppliesToAPIServer sends the rendered chart to a real API server (v1.37), first as a
// server-side dry run, then for real, with the default values and with the non-default ones in
// another namespace and release, so two installs do not collide on cluster-scoped names.
// ServiceMonitor and PrometheusRule are left out of the apply: the test world has no Prometheus
// Operator CRDs (TestChartNonDefaultValues checks their content).
func TestChartAppliesToAPIServer(t *testing.T) {
	env, cfg, err := testworld.StartAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testworld.WriteKubeconfig(cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	kubectl, err := testworld.Binary("kubectl")
	if err != nil {
		t.Fatal(err)
	}
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(kubectl, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, install := range []struct {
		release, namespace string
		args               []string
	}{
		{"securesite", "securesite-system", nil},
		{"edge", "platform", []string{"-f", nonDefaultValuesFile(t)}},
	} {
		manifests, err := testworld.RenderChart(install.release, install.namespace, install.args...)
		if err != nil {
			t.Fatal(err)
		}
		var docs []string
		o := parseObjects(t, manifests)
		for _, u := range o {
			if strings.HasPrefix(u.GetAPIVersion(), "monitoring.coreos.com/") {
				continue
			}
			docs = append(docs, toYAML(t, u.Object))
		}
		stream := strings.Join(docs, "---\n")
		run("", "create", "namespace", install.namespace)
		run(stream, "apply", "--server-side", "--field-manager=helm", "--validate=strict", "--dry-run=server", "-f", "-")
		out := run(stream, "apply", "--server-side", "--field-manager=helm", "--validate=strict", "-f", "-")
		if got, want := strings.Count(out, "serverside-applied"), len(docs); got != want {
			t.Errorf("%s: %d objects applied, want %d:\n%s", install.release, got, want, out)
		}
		// kubectl's default --validate=strict made the API server refuse unknown or duplicate
		// fields, so a misspelt field fails above instead of being dropped.
		run("", "-n", install.namespace, "get", "deployment", o.one(t, "Deployment").GetName(), "-o", "name")
	}
}
