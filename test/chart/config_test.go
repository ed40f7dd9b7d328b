package chart

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/securesite-io/securesite/internal/testworld"
)

// kustomizeDefault renders config/default with the test world's kubectl, as `kubectl apply -k` and
// dist/install.yaml do.
func kustomizeDefault(t *testing.T) objects {
	t.Helper()
	kubectl, err := testworld.Binary("kubectl")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kubectl, "kustomize", filepath.Join(testworld.ProjectRoot(), "config", "default")).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v", err)
	}
	return parseObjects(t, string(out))
}

// TestChartMatchesConfig is the guard against the chart and config/ drifting apart: release
// "securesite" in securesite-system must render the same CRDs, the same RBAC (rules, aggregation,
// bindings) and the same Pod spec (all but the image reference) as config/default, and the same
// set of objects apart from the Namespace (Helm charts leave namespaces to `--create-namespace`).
func TestChartMatchesConfig(t *testing.T) {
	chart := render(t, "securesite", "securesite-system")
	config := kustomizeDefault(t)

	var chartKeys, configKeys []string
	for k, u := range chart {
		chartKeys = append(chartKeys, k)
		_ = u
	}
	for k, u := range config {
		if u.GetKind() != "Namespace" {
			configKeys = append(configKeys, k)
		}
	}
	sort.Strings(chartKeys)
	sort.Strings(configKeys)
	if !reflect.DeepEqual(chartKeys, configKeys) {
		t.Errorf("objects differ:\nchart:   %v\nconfig/: %v", chartKeys, configKeys)
	}

	for k, want := range config {
		got := chart[k]
		if got == nil {
			continue
		}
		switch want.GetKind() {
		case "CustomResourceDefinition":
			same(t, k, "spec", got.Object["spec"], want.Object["spec"])
		case "ClusterRole", "Role":
			same(t, k, "rules", got.Object["rules"], want.Object["rules"])
			same(t, k, "aggregation labels", aggregation(got), aggregation(want))
		case "ClusterRoleBinding", "RoleBinding":
			same(t, k, "roleRef", got.Object["roleRef"], want.Object["roleRef"])
			same(t, k, "subjects", got.Object["subjects"], want.Object["subjects"])
		case "Service":
			same(t, k, "ports", nested(got, "spec", "ports"), nested(want, "spec", "ports"))
		case "PodDisruptionBudget":
			same(t, k, "maxUnavailable", nested(got, "spec", "maxUnavailable"), nested(want, "spec", "maxUnavailable"))
		case "Deployment":
			same(t, k, "replicas", nested(got, "spec", "replicas"), nested(want, "spec", "replicas"))
			same(t, k, "pod spec", podSpecWithoutImage(got), podSpecWithoutImage(want))
		}
	}
}

func same(t *testing.T, key, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: %s differ\nchart:   %s\nconfig/: %s", key, what, toYAML(t, got), toYAML(t, want))
	}
}

func nested(u *unstructured.Unstructured, fields ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(u.Object, fields...)
	return v
}

func aggregation(u *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	for k, v := range u.GetLabels() {
		if filepath.Dir(k) == "rbac.authorization.k8s.io" {
			out[k] = v
		}
	}
	return out
}

// podSpecWithoutImage is the Deployment's Pod spec without the image reference and pull policy,
// which kustomize sets through its images: list and the chart through values.
func podSpecWithoutImage(u *unstructured.Unstructured) any {
	spec := unstructured.Unstructured{Object: map[string]any{}}
	if s, ok, _ := unstructured.NestedMap(u.Object, "spec", "template", "spec"); ok {
		spec.Object = s
	}
	containers, _, _ := unstructured.NestedSlice(spec.Object, "containers")
	for _, c := range containers {
		delete(c.(map[string]any), "image")
		delete(c.(map[string]any), "imagePullPolicy")
	}
	_ = unstructured.SetNestedSlice(spec.Object, containers, "containers")
	return spec.Object
}
