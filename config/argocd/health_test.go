package argocd

import (
	"encoding/json"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite argocd-cm.yaml from health.lua")

const (
	configMapFile = "argocd-cm.yaml"
	healthKey     = "resource.customizations.health.securesite.io_SecureSite"
)

// runHealth runs script the way Argo CD does (see Evaluate).
func runHealth(t *testing.T, script string, obj *unstructured.Unstructured) Health {
	t.Helper()
	hs, err := Evaluate(script, obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// unstructuredSite serialises a typed SecureSite and reads it back the way Argo CD holds live
// objects, so field names come from the real JSON tags.
func unstructuredSite(t *testing.T, site *v1alpha1.SecureSite) *unstructured.Unstructured {
	t.Helper()
	site.APIVersion = v1alpha1.GroupVersion.String()
	site.Kind = "SecureSite"
	data, err := json.Marshal(site)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	return u
}

func cond(conditionType string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: conditionType, Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))}
}

func atGeneration(c metav1.Condition, generation int64) metav1.Condition {
	c.ObservedGeneration = generation
	return c
}

func site(generation, observed int64, suspend bool, conditions ...metav1.Condition) *v1alpha1.SecureSite {
	s := &v1alpha1.SecureSite{
		ObjectMeta: metav1.ObjectMeta{Name: "duckhoo", Namespace: "web", Generation: generation},
		Spec: v1alpha1.SecureSiteSpec{
			Domain:  "duckhoo.site",
			Backend: &v1alpha1.BackendSpec{Hostname: "infra.duckhoo.site", Address: "203.0.113.10"},
			Suspend: suspend,
		},
	}
	s.Status.ObservedGeneration = observed
	s.Status.Conditions = conditions
	return s
}

const (
	healthy     = "Healthy"
	progressing = "Progressing"
	degraded    = "Degraded"
	suspended   = "Suspended"
)

var (
	notStalled = cond(v1alpha1.ConditionStalled, metav1.ConditionFalse, v1alpha1.ReasonReconciled, "")
	readyTrue  = cond(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReconciled,
		"served over HTTPS with a valid certificate: site https://duckhoo.site and API https://infra.duckhoo.site")
)

func TestHealth(t *testing.T) {
	tests := slices.Concat(healthyCases(), progressingCases(), degradedCases(), suspendedCases())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runHealth(t, HealthLua, unstructuredSite(t, tt.site))
			if got.Status != tt.wantStatus {
				t.Errorf("status = %q (message %q), want %q", got.Status, got.Message, tt.wantStatus)
			}
			if !strings.Contains(got.Message, tt.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", got.Message, tt.wantMessage)
			}
		})
	}
}

type healthCase struct {
	name        string
	site        *v1alpha1.SecureSite
	wantStatus  string
	wantMessage string // substring
}

func notReady(reason, message string) metav1.Condition {
	return cond(v1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
}

func withDistribution(s *v1alpha1.SecureSite, status string) *v1alpha1.SecureSite {
	s.Status.Distribution = &v1alpha1.DistributionStatus{ID: "E2QWRUHAPOMQZL", Status: status}
	return s
}

// healthyCases: Ready at the generation the user last applied.
func healthyCases() []healthCase {
	return []healthCase{
		{"ready at the current generation", site(3, 3, false, readyTrue, notStalled), healthy, "served over HTTPS"},
		{"ready with per-condition generations", site(3, 3, false, atGeneration(readyTrue, 3), atGeneration(notStalled, 3)), healthy, "https://duckhoo.site"},
	}
}

// progressingCases: not Ready yet for a reason that passes on its own, or Ready for an older spec.
func progressingCases() []healthCase {
	noStatus := &v1alpha1.SecureSite{
		ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "web", Generation: 1},
		Spec:       v1alpha1.SecureSiteSpec{Domain: "duckhoo.site"},
	}
	return []healthCase{
		{"no status yet", noStatus, progressing, "Waiting for controller"},
		{"status without conditions", site(1, 0, false), progressing, "Waiting for controller"},
		{"only Stalled=False, no Ready yet", site(1, 0, false, notStalled), progressing, "Waiting for controller"},
		{"ready but spec changed since (stale observedGeneration)", site(4, 3, false, readyTrue, notStalled), progressing, "latest spec"},
		{"ready but never observed", site(1, 0, false, readyTrue), progressing, "latest spec"},
		{"certificate issuing", site(1, 0, false,
			notReady(v1alpha1.ReasonIssuing, "not secure yet: API https://infra.duckhoo.site (backend). CertificateReady: ACME order for duckhoo.site pending"),
			notStalled), progressing, "ACME order for duckhoo.site pending"},
		{"distribution InProgress (Deploying)", withDistribution(site(2, 1, false,
			notReady(v1alpha1.ReasonDeploying, "DistributionReady: CloudFront distribution E2QWRUHAPOMQZL is InProgress"),
			notStalled), "InProgress"), progressing, "is InProgress"},
		{"transient failure backs off, not degraded", site(1, 0, false,
			notReady(v1alpha1.ReasonBackingOff, "CertificateReady: attempt 2 failed, next at 12:05"), notStalled), progressing, "attempt 2 failed"},
		{"Ready Unknown", site(1, 0, false, cond(v1alpha1.ConditionReady, metav1.ConditionUnknown, v1alpha1.ReasonProgressing, "")), progressing, v1alpha1.ReasonProgressing},
	}
}

// degradedCases: a reason that needs a person; a reason reported for an older generation does not count.
func degradedCases() []healthCase {
	return []healthCase{
		{"record conflict", site(2, 1, false,
			notReady(v1alpha1.ReasonRecordConflict, "DNSReady: not written, to avoid overwriting a record we do not own: infra.duckhoo.site A exists and is not managed by SecureSite"),
			notStalled), degraded, "infra.duckhoo.site A exists"},
		{"secret conflict", site(1, 0, false, notReady(v1alpha1.ReasonSecretConflict, "Secret web/duckhoo-tls is not ours")), degraded, "is not ours"},
		{"bucket owned elsewhere", site(1, 0, false, notReady(v1alpha1.ReasonBucketOwnedElsewhere, "bucket duckhoo-site belongs to another account")), degraded, "another account"},
		{"invalid spec on Ready only", site(1, 0, false, notReady(v1alpha1.ReasonInvalidSpec, "hostedZoneID Z1 is not a public zone")), degraded, "not a public zone"},
		{"stalled", site(1, 0, false,
			notReady(v1alpha1.ReasonZoneNotFound, "DNSReady: no hosted zone for duckhoo.site"),
			cond(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonZoneNotFound, "no public hosted zone matches duckhoo.site")), degraded, "no public hosted zone"},
		{"conflict reported for an older generation", site(3, 1, false,
			atGeneration(notReady(v1alpha1.ReasonRecordConflict, "infra.duckhoo.site A exists"), 2)), progressing, "infra.duckhoo.site A exists"},
		{"stalled for an older generation", site(3, 1, false,
			atGeneration(notReady(v1alpha1.ReasonIssuing, "CertificateReady: ordering"), 3),
			atGeneration(cond(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonInvalidSpec, "bad"), 2)), progressing, "ordering"},
	}
}

// suspendedCases: suspend wins over every other state.
func suspendedCases() []healthCase {
	return []healthCase{
		{"suspended", site(2, 2, true, notReady(v1alpha1.ReasonSuspended, "suspended: observing only"), notStalled), suspended, "Suspended"},
		{"suspended wins over stalled", site(2, 1, true,
			cond(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonInvalidSpec, "bad")), suspended, "changes nothing in AWS"},
		{"suspended before the controller saw it", site(1, 0, true), suspended, "changes nothing in AWS"},
	}
}

// The ConfigMap snippet users paste carries its own copy of the script; it must be health.lua.
func TestConfigMapEmbedsHealthLua(t *testing.T) {
	if *update {
		if err := os.WriteFile(configMapFile, []byte(renderConfigMap(HealthLua)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(configMapFile)
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string            `json:"name"`
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.UnmarshalStrict(data, &cm); err != nil {
		t.Fatalf("%s: %v", configMapFile, err)
	}
	if cm.Kind != "ConfigMap" || cm.Metadata.Name != "argocd-cm" {
		t.Errorf("%s is %s %s, want ConfigMap argocd-cm", configMapFile, cm.Kind, cm.Metadata.Name)
	}
	if got := cm.Data[healthKey]; got != HealthLua {
		t.Errorf("%s data[%s] differs from health.lua; run: go test ./config/argocd/ -run TestConfigMapEmbedsHealthLua -update", configMapFile, healthKey)
	}
	// The copy in the ConfigMap must behave like the file, not just look like it.
	got := runHealth(t, cm.Data[healthKey], unstructuredSite(t, site(3, 3, false, readyTrue, notStalled)))
	if got.Status != healthy {
		t.Errorf("ConfigMap script says %q for a ready site, want Healthy", got.Status)
	}
}

func renderConfigMap(script string) string {
	var b strings.Builder
	b.WriteString(`# Argo CD health check for SecureSite. Merge into the argocd-cm ConfigMap, e.g.
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file config/argocd/argocd-cm.yaml
# Generated from health.lua by: go test ./config/argocd/ -run TestConfigMapEmbedsHealthLua -update
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
  ` + healthKey + `: |
`)
	for _, line := range strings.SplitAfter(script, "\n") {
		if strings.TrimSpace(line) == "" {
			b.WriteString(strings.TrimLeft(line, " \t"))
			continue
		}
		b.WriteString("    " + line)
	}
	return b.String()
}
