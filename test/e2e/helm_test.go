package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/testworld"
)

// TestHelmInstallEndToEnd installs the Helm chart the way `helm install edge charts/securesite -n
// platform` would (helm template, then a server-side apply: the test world has no kubelet, so the
// Deployment never starts a Pod) and runs the manager binary as the chart's ServiceAccount, with
// the chart's own arguments, in the chart's namespace, with the chart's default SecureSiteClass as
// the only grant. The samples must reach Ready: the chart's RBAC (its ClusterRole, the lease and
// ACME-account Roles) and its class are enough, and the manager has no more than that identity.
func TestHelmInstallEndToEnd(t *testing.T) {
	const (
		release   = "edge"
		namespace = "platform"
		sitesNS   = "helm-samples"
	)
	ctx := context.Background()
	root := testworld.ProjectRoot()
	w := testworld.Start(t, testworld.WithoutDefaultClass()) // the chart brings the class
	k := kube{t: t, kubeconfig: w.Kubeconfig}
	w.CreateHostedZone(ctx, "duckhoo.site")

	installChartWithDefaultClass(t, k, release, namespace)
	sa, args := chartManagerIdentityAndArgs(t, k, release, namespace)
	w.StartManager(t, testworld.ManagerOptions{Kubeconfig: managerKubeconfigAs(t, w, sa), Args: args, LogName: "manager-helm.log"})

	k.must("create", "namespace", sitesNS)
	k.must("apply", "-n", sitesNS,
		"-f", filepath.Join(root, "config", "samples", "securesite_v1alpha1_securesite.yaml"),
		"-f", filepath.Join(root, "config", "samples", "securesite_v1alpha1_backend_only.yaml"))
	start := time.Now()
	waitReady(t, k, sitesNS, "duckhoo", "duckhoo-dev")
	t.Logf("both samples Ready %s after apply, manager running as %s", time.Since(start).Round(100*time.Millisecond), sa)

	// The lease and the ACME account live in the release namespace, through the chart's Roles.
	if out := k.must("get", "leases", "-n", namespace, "-o", "name"); strings.TrimSpace(out) == "" {
		t.Errorf("no leader-election lease in %s", namespace)
	}
	account := acme.AccountSecretName(w.Pebble.DirectoryURL, "ops@duckhoo.site") // the chart's class's email
	if _, err := k.run("get", "secret", "-n", namespace, account); err != nil {
		t.Errorf("the ACME account Secret is not in the release namespace: %v", err)
	}
	k.must("delete", "securesite", "--all", "-n", sitesNS, "--wait", "--timeout=3m")
}

// installChartWithDefaultClass renders the chart with a default SecureSiteClass and applies it
// server-side as Helm does. The class is the grant: without it the controller writes nothing.
func installChartWithDefaultClass(t *testing.T, k kube, release, namespace string) {
	t.Helper()
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte(`acme: {email: helm@duckhoo.site}
defaultClass:
  create: true
  spec:
    namespaceSelector: {}
    domains: [duckhoo.site]
    acme: {email: ops@duckhoo.site}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	manifests, err := testworld.RenderChart(release, namespace, "-f", values)
	if err != nil {
		t.Fatal(err)
	}
	k.must("create", "namespace", namespace)
	k.mustIn(manifests, "apply", "--server-side", "--field-manager=helm", "-f", "-")
}

// chartManagerIdentityAndArgs reads the installed Deployment: the user its ServiceAccount
// authenticates as, and its container's arguments as the manager process takes them here.
func chartManagerIdentityAndArgs(t *testing.T, k kube, release, namespace string) (string, []string) {
	t.Helper()
	var deploy struct {
		Spec struct {
			Template struct {
				Spec struct {
					ServiceAccountName string `json:"serviceAccountName"`
					Containers         []struct {
						Name string   `json:"name"`
						Args []string `json:"args"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	k.getJSON(&deploy, "get", "-n", namespace, "deployment", release+"-securesite-controller-manager")
	pod := deploy.Spec.Template.Spec
	sa := "system:serviceaccount:" + namespace + ":" + pod.ServiceAccountName
	var args []string
	for _, a := range pod.Containers[0].Args {
		// The test world picks free loopback ports for these.
		if !strings.HasPrefix(a, "--metrics-bind-address=") && !strings.HasPrefix(a, "--health-probe-bind-address=") {
			args = append(args, a)
		}
	}
	if !slices.Contains(args, "--leader-elect") {
		t.Fatalf("the chart's args %v lack --leader-elect", args)
	}
	// In a Pod, POD_NAMESPACE (the downward API) says this.
	return sa, append(args, "--namespace="+namespace)
}
