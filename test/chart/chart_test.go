// Package chart tests the Helm chart (charts/securesite) the way installers use it: helm lint and
// helm template with Helm v3 and v4, the values schema, every manager flag reachable through a
// value, the same RBAC, CRD and container spec as config/default, and the rendered chart accepted
// by a real API server. test/e2e runs the manager under the chart's ServiceAccount and RBAC.
package chart

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/securesite-io/securesite/internal/testworld"
)

// nonDefaultValues turns on what the defaults leave off, as a production install would.
const nonDefaultValues = `
replicaCount: 2
image:
  repository: registry.example.com/platform/securesite
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
serviceAccount:
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/securesite
crds:
  templated: true
aws:
  region: ap-northeast-2
acme:
  email: ops@duckhoo.site
  caBundle:
    configMap: corporate-ca
dns01:
  nameservers: ["10.0.0.2:53"]
issuanceWorkers: 16
resyncPeriod: 5m
metrics:
  readers:
  - {name: prometheus-k8s, namespace: monitoring}
  serviceMonitor:
    enabled: true
    labels: {release: kube-prometheus-stack}
  prometheusRule:
    enabled: true
log:
  level: debug
podDisruptionBudget:
  minAvailable: 1
nodeSelector:
  kubernetes.io/os: linux
defaultClass:
  create: true
  spec:
    namespaceSelector: {}
    domains: [duckhoo.site]
    acme: {email: ops@duckhoo.site}
`

// nonDefaultValuesFile writes nonDefaultValues to a file for helm -f.
func nonDefaultValuesFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, []byte(nonDefaultValues), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestChartLint(t *testing.T) {
	nonDefault := nonDefaultValuesFile(t)
	for _, helm := range []string{"helm", "helm4"} {
		for _, args := range [][]string{nil, {"-f", nonDefault}} {
			out, err := testworld.Helm(helm, append([]string{"lint", "--strict", testworld.ChartDir()}, args...)...)
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			// --strict fails on warnings already; the one [INFO] helm prints is that no icon is set.
			if strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") || !strings.Contains(out, "0 chart(s) failed") {
				t.Errorf("%s lint %v:\n%s", helm, args, out)
			}
		}
	}
}

// TestChartRendersWithHelm4 checks that Helm v4 renders exactly what Helm v3 does, so the chart
// is one chart for both.
func TestChartRendersWithHelm4(t *testing.T) {
	nonDefault := nonDefaultValuesFile(t)
	for _, args := range [][]string{nil, {"-f", nonDefault}} {
		common := append([]string{"template", "securesite", testworld.ChartDir(), "--namespace", "securesite-system", "--include-crds"}, args...)
		v3, err := testworld.Helm("helm", common...)
		if err != nil {
			t.Fatal(err)
		}
		v4, err := testworld.Helm("helm4", common...)
		if err != nil {
			t.Fatal(err)
		}
		a, b := parseObjects(t, v3), parseObjects(t, v4)
		if len(a) != len(b) {
			t.Errorf("values %v: helm v3 renders %d objects, v4 %d", args, len(a), len(b))
		}
		for k, u := range a {
			if !reflect.DeepEqual(u.Object, b[k].Object) {
				t.Errorf("values %v: %s differs between helm v3 and v4", args, k)
			}
		}
	}
}

func TestChartDefaults(t *testing.T) {
	o := render(t, "securesite", "securesite-system")
	d := o.one(t, "Deployment")
	if got, _, _ := unstructuredInt(d.Object, "spec", "replicas"); got != 1 {
		t.Errorf("replicas %d, want 1", got)
	}
	c := managerContainer(t, o)
	if got, want := c["image"], "ghcr.io/securesite-io/securesite:"+chartAppVersion(t); got != want {
		t.Errorf("image %v, want %s (the chart's appVersion)", got, want)
	}
	args := stringsOf(c["args"])
	for _, want := range []string{"--leader-elect", "--metrics-secure", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %v lack %s", args, want)
		}
	}
	if pdb := o.one(t, "PodDisruptionBudget"); pdb.Object["spec"].(map[string]any)["maxUnavailable"] != int64(1) {
		t.Errorf("PodDisruptionBudget %v, want maxUnavailable 1 (a drain may always take the one Pod)", pdb.Object["spec"])
	}
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule", "SecureSiteClass"} {
		if n := len(o.ofKind(kind)); n != 0 {
			t.Errorf("%d %s by default; they are opt-in (the Prometheus Operator's CRDs; a grant is the admin's choice)", n, kind)
		}
	}
	crds := o.ofKind("CustomResourceDefinition")
	if len(crds) != 2 {
		t.Errorf("%d CRDs, want SecureSite and SecureSiteClass", len(crds))
	}
	for _, crd := range crds {
		if crd.GetAnnotations()["helm.sh/resource-policy"] != "" {
			t.Errorf("the crds/ CRD %s carries a resource policy; Helm never deletes crds/ anyway", crd.GetName())
		}
	}
}

func TestChartNonDefaultValues(t *testing.T) {
	o := render(t, "edge", "platform", "-f", nonDefaultValuesFile(t))
	checkManagerDeploymentFromValues(t, o)
	sa := o.one(t, "ServiceAccount")
	if sa.GetAnnotations()["eks.amazonaws.com/role-arn"] != "arn:aws:iam::123456789012:role/securesite" {
		t.Errorf("ServiceAccount annotations %v, want the IRSA role", sa.GetAnnotations())
	}
	if pdb := o.one(t, "PodDisruptionBudget"); pdb.Object["spec"].(map[string]any)["minAvailable"] != int64(1) {
		t.Errorf("PodDisruptionBudget %v, want minAvailable 1", pdb.Object["spec"])
	}
	checkMonitoringFromValues(t, o)
	checkTemplatedCRDsKept(t, o)
	class := o.one(t, "SecureSiteClass")
	if class.GetName() != "default" || class.GetAnnotations()["securesite.io/is-default-class"] != "true" ||
		!strings.Contains(toYAML(t, class.Object["spec"]), "duckhoo.site") {
		t.Errorf("default SecureSiteClass %v", class.Object)
	}
}

// checkManagerDeploymentFromValues: the release's Deployment runs the image by digest, twice,
// with the values as flags and environment and the CA bundle ConfigMap mounted.
func checkManagerDeploymentFromValues(t *testing.T, o objects) {
	t.Helper()
	d := o.one(t, "Deployment")
	if d.GetName() != "edge-securesite-controller-manager" || d.GetNamespace() != "platform" {
		t.Errorf("Deployment %s/%s", d.GetNamespace(), d.GetName())
	}
	if got, _, _ := unstructuredInt(d.Object, "spec", "replicas"); got != 2 {
		t.Errorf("replicas %d, want 2", got)
	}
	c := managerContainer(t, o)
	if got := c["image"]; got != "registry.example.com/platform/securesite@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
		t.Errorf("image %v, want the digest reference", got)
	}
	args := stringsOf(c["args"])
	for _, want := range []string{"--leader-elect", "--acme-email=ops@duckhoo.site", "--acme-ca-bundle=/etc/securesite/acme-ca/ca.crt",
		"--dns01-nameservers=10.0.0.2:53", "--issuance-workers=16", "--resync-period=5m", "--zap-log-level=debug"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %v lack %s", args, want)
		}
	}
	if env := envOf(c); env["AWS_REGION"] != "ap-northeast-2" || env["POD_NAMESPACE"] != "fieldRef:metadata.namespace" {
		t.Errorf("env %v", env)
	}
	volumes, _, _ := unstructuredSlice(d.Object, "spec", "template", "spec", "volumes")
	if !strings.Contains(toYAML(t, volumes), "name: corporate-ca") {
		t.Errorf("volumes %v lack the CA bundle ConfigMap", volumes)
	}
}

// checkMonitoringFromValues: a ServiceMonitor over HTTPS for the Prometheus release, the alerts
// as a PrometheusRule, and Prometheus allowed to read the metrics.
func checkMonitoringFromValues(t *testing.T, o objects) {
	t.Helper()
	sm := o.one(t, "ServiceMonitor")
	if sm.GetLabels()["release"] != "kube-prometheus-stack" || !strings.Contains(toYAML(t, sm.Object["spec"]), "scheme: https") {
		t.Errorf("ServiceMonitor %v", sm.Object)
	}
	// The PrometheusRule carries files/alerts.yaml as it is.
	rule := o.one(t, "PrometheusRule")
	var alerts map[string]any
	readYAML(t, filepath.Join(testworld.ChartDir(), "files", "alerts.yaml"), &alerts)
	if !reflect.DeepEqual(rule.Object["spec"], alerts) {
		t.Errorf("PrometheusRule spec differs from files/alerts.yaml")
	}
	binding := o["ClusterRoleBinding//edge-securesite-metrics-reader"]
	if binding == nil || !strings.Contains(toYAML(t, binding.Object["subjects"]), "prometheus-k8s") {
		t.Errorf("metrics.readers: no binding of the metrics-reader ClusterRole to prometheus-k8s")
	}
}

// checkTemplatedCRDsKept: the CRDs installed as templates are the crds/ files, kept by Helm on
// uninstall (helm.sh/resource-policy=keep).
func checkTemplatedCRDsKept(t *testing.T, o objects) {
	t.Helper()
	crds := o.ofKind("CustomResourceDefinition")
	if len(crds) != 2 {
		t.Errorf("%d templated CRDs, want SecureSite and SecureSiteClass", len(crds))
	}
	for _, crd := range crds {
		if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("templated CRD %s annotations %v, want helm.sh/resource-policy=keep", crd.GetName(), crd.GetAnnotations())
		}
		var fromFile map[string]any
		file := crd.GetName() + ".yaml"
		file = "securesite.io_" + strings.TrimSuffix(file, ".securesite.io.yaml") + ".yaml"
		readYAML(t, filepath.Join(testworld.ChartDir(), "crds", file), &fromFile)
		if !reflect.DeepEqual(crd.Object["spec"], fromFile["spec"]) {
			t.Errorf("the templated CRD's spec differs from crds/%s", file)
		}
	}
}

// TestChartSchemaRefusesBadValues: a typo or a wrong type in values fails at helm install/template
// with the field's name, instead of rendering a manager that crash-loops.
func TestChartSchemaRefusesBadValues(t *testing.T) {
	for _, tc := range []struct{ set, wantInError string }{
		{"replicaCount=-1", "replicaCount"},
		{"image.digest=latest", "digest"},
		{"image.pullPolicy=Sometimes", "pullPolicy"},
		{"resyncPeriod=ten minutes", "resyncPeriod"},
		{"issuanceWorkers=0", "issuanceWorkers"},
		{"maxConcurrentReconciles=many", "maxConcurrentReconciles"},
		{"acme.server=http://acme.example/directory", "server"},
		{"acme.email=not-an-email", "email"},
		{"aws.region=Seoul", "region"},
		{"dns01.nameservers={10.0.0.2}", "nameservers"},
		{"log.level=loud", "level"},
		{"acme.limits.ordersPerAccount=300", "ordersPerAccount"},
		{"driftCheckInterval=often", "driftCheckInterval"},
		{"log.format=xml", "format"},
		{"metrics.port=70000", "port"},
		{"extraArgs={leader-elect}", "extraArgs"},
		{"leaderElection.enable=true", "enable"},          // a typo of enabled
		{"replicas=2", "replicas"},                        // the key is replicaCount
		{"serviceAccount.annotations.x=1", "annotations"}, // numbers are not annotation values
	} {
		_, err := testworld.RenderChart("securesite", "securesite-system", "--set", tc.set)
		if err == nil {
			t.Errorf("--set %s rendered; want a schema error", tc.set)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantInError) {
			t.Errorf("--set %s: error does not name %q:\n%v", tc.set, tc.wantInError, err)
		}
	}
	// The chart's own rules the schema cannot say: two managers need a lease; a default class
	// grants some domain.
	if _, err := testworld.RenderChart("securesite", "securesite-system", "--set", "defaultClass.create=true"); err == nil ||
		!strings.Contains(err.Error(), "defaultClass.spec.domains") {
		t.Errorf("defaultClass without domains: err = %v, want a refusal naming defaultClass.spec.domains", err)
	}
	_, err := testworld.RenderChart("securesite", "securesite-system", "--set", "replicaCount=2", "--set", "leaderElection.enabled=false")
	if err == nil || !strings.Contains(err.Error(), "leaderElection") {
		t.Errorf("replicaCount=2 without leader election: err = %v, want a refusal naming leaderElection", err)
	}
}

func chartAppVersion(t *testing.T) string {
	t.Helper()
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	readYAML(t, filepath.Join(testworld.ChartDir(), "Chart.yaml"), &chart)
	return chart.AppVersion
}

// readYAML decodes a file into a struct or, for a *map[string]any, the way parseObjects does.
func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := into.(*map[string]any); ok {
		*m = decodeYAML(t, b)
		return
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func toYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestChartPackage packages the chart as make release-artifacts does and checks the package: it
// lints, renders, carries the version it was given, and `helm show crds` (the README's CRD upgrade
// step) prints every CRD of config/crd/bases.
func TestChartPackage(t *testing.T) {
	dir := t.TempDir()
	if _, err := testworld.Helm("helm", "package", testworld.ChartDir(), "--version", "1.2.3-rc.1", "--app-version", "v1.2.3-rc.1", "-d", dir); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(dir, "securesite-1.2.3-rc.1.tgz")
	for _, helm := range []string{"helm", "helm4"} {
		if _, err := testworld.Helm(helm, "lint", "--strict", pkg); err != nil {
			t.Errorf("%s lint of the package: %v", helm, err)
		}
	}
	out, err := testworld.Helm("helm", "template", "securesite", pkg, "--namespace", "securesite-system")
	if err != nil {
		t.Fatal(err)
	}
	if c := managerContainer(t, parseObjects(t, out)); c["image"] != "ghcr.io/securesite-io/securesite:v1.2.3-rc.1" {
		t.Errorf("packaged chart's image %v, want the app version's tag", c["image"])
	}
	crds, err := testworld.Helm("helm", "show", "crds", pkg)
	if err != nil {
		t.Fatal(err)
	}
	shown := parseObjects(t, crds)
	bases, err := filepath.Glob(filepath.Join(testworld.ProjectRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(shown) != len(bases) || len(bases) == 0 {
		t.Errorf("helm show crds prints %d CRDs, config/crd/bases has %d", len(shown), len(bases))
	}
}
