package chart

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kjson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/securesite-io/securesite/internal/testworld"
)

// objects is a rendered set of manifests, keyed by "Kind/namespace/name".
type objects map[string]*unstructured.Unstructured

func parseObjects(t *testing.T, manifests string) objects {
	t.Helper()
	out := objects{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("parsing manifests: %v", err)
		}
		u := &unstructured.Unstructured{Object: decodeYAML(t, doc)}
		if len(u.Object) == 0 {
			continue
		}
		out[key(u)] = u
	}
}

// decodeYAML decodes one YAML document the way the API machinery does (whole numbers as int64),
// so objects from files, helm and kustomize compare equal when they mean the same.
func decodeYAML(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatalf("parsing YAML: %v\n%s", err, doc)
	}
	var m map[string]any
	if err := kjson.Unmarshal(j, &m); err != nil {
		t.Fatalf("parsing YAML: %v", err)
	}
	return m
}

func key(u *unstructured.Unstructured) string {
	return u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
}

// ofKind returns the objects of one kind, sorted by key.
func (o objects) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range o {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}

func (o objects) one(t *testing.T, kind string) *unstructured.Unstructured {
	t.Helper()
	all := o.ofKind(kind)
	if len(all) != 1 {
		t.Fatalf("%d objects of kind %s, want 1", len(all), kind)
	}
	return all[0]
}

// render runs helm template (v3) and fails the test on an error.
func render(t *testing.T, release, namespace string, args ...string) objects {
	t.Helper()
	out, err := testworld.RenderChart(release, namespace, args...)
	if err != nil {
		t.Fatal(err)
	}
	return parseObjects(t, out)
}

// managerContainer returns the Deployment's manager container.
func managerContainer(t *testing.T, o objects) map[string]any {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(o.one(t, "Deployment").Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		if c := c.(map[string]any); c["name"] == "manager" {
			return c
		}
	}
	t.Fatal("no manager container in the Deployment")
	return nil
}

func stringsOf(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// envOf maps the container's env names to values ("fieldRef:<path>" for downward API values).
func envOf(c map[string]any) map[string]string {
	out := map[string]string{}
	env, _ := c["env"].([]any)
	for _, e := range env {
		e := e.(map[string]any)
		if v, ok := e["value"].(string); ok {
			out[e["name"].(string)] = v
		} else if p, ok, _ := unstructured.NestedString(e, "valueFrom", "fieldRef", "fieldPath"); ok {
			out[e["name"].(string)] = "fieldRef:" + p
		}
	}
	return out
}

var helpFlag = regexp.MustCompile(`(?m)^  -([a-z0-9][a-z0-9-]*)`)

// managerFlags builds the manager and returns the flags its --help lists: the truth about which
// flags exist, however main.go registers them.
func managerFlags(t *testing.T) []string {
	t.Helper()
	bin, err := testworld.ManagerBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--help")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run() // the flag package exits 0 or 2 after -help, depending on its error handling
	var flags []string
	for _, m := range helpFlag.FindAllStringSubmatch(out.String(), -1) {
		flags = append(flags, m[1])
	}
	if len(flags) < 10 {
		t.Fatalf("found only %v in the manager's --help:\n%s", flags, out.String())
	}
	return flags
}

func unstructuredInt(obj map[string]any, fields ...string) (int64, bool, error) {
	return unstructured.NestedInt64(obj, fields...)
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]any, bool, error) {
	return unstructured.NestedSlice(obj, fields...)
}
