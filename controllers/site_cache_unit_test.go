package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// cachedSiteOf is what the cache keeps of a site with this metadata.
func cachedSiteOf(t *testing.T, change func(*metav1.ObjectMeta)) client.Object {
	t.Helper()
	m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name: "duckhoo", Namespace: "web", UID: "5f0c3e2a-site", ResourceVersion: "42", Generation: 3,
		Finalizers:  []string{v1alpha1.Finalizer},
		Labels:      map[string]string{"securesite.io/shard": "a"},
		Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: `{"spec":{}}`, "example.com/poke": "1"},
	}}
	m.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("SecureSite"))
	if change != nil {
		change(&m.ObjectMeta)
	}
	out, err := CompactSite(m)
	if err != nil {
		t.Fatal(err)
	}
	return out.(client.Object)
}

// The cache keeps of a site its key, resourceVersion and generation, and no other metadata.
func TestCompactSiteKeepsWhatWakesTheSite(t *testing.T) {
	got := cachedSiteOf(t, nil)
	if got.GetName() != "duckhoo" || got.GetNamespace() != "web" || got.GetResourceVersion() != "42" || got.GetGeneration() != 3 {
		t.Errorf("cached site %s/%s rv %q generation %d, want web/duckhoo rv 42 generation 3",
			got.GetNamespace(), got.GetName(), got.GetResourceVersion(), got.GetGeneration())
	}
	if got.GetObjectKind().GroupVersionKind() != v1alpha1.GroupVersion.WithKind("SecureSite") {
		t.Errorf("kind %v", got.GetObjectKind().GroupVersionKind())
	}
	if got.GetUID() != "" || got.GetLabels() != nil || got.GetAnnotations() != nil || got.GetFinalizers() != nil {
		t.Errorf("the cached site keeps metadata nothing reads from the cache: %+v", got)
	}
	if c := got.DeepCopyObject(); *c.(*CachedSite) != *got.(*CachedSite) {
		t.Errorf("copy %+v differs from %+v", c, got)
	}
	if again, _ := CompactSite(got); again != got {
		t.Errorf("an object already transformed is not kept as it is")
	}
}

// A spec change (generation), an annotation change and the start of a deletion (the API server
// bumps the generation; TestSiteWakesOnAnnotationAndGrantChanges shows it) wake the site; its
// status patches, a label change and kubectl's last-applied copy changing alone do not.
func TestSiteChangedWakesOnSpecAndAnnotationsOnly(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*metav1.ObjectMeta)
		wakes  bool
	}{
		{"status patch (resourceVersion only)", func(m *metav1.ObjectMeta) { m.ResourceVersion = "43" }, false},
		{"label edit", func(m *metav1.ObjectMeta) { m.Labels = map[string]string{"team": "b"} }, false},
		{"kubectl's last-applied copy", func(m *metav1.ObjectMeta) { m.Annotations[corev1.LastAppliedConfigAnnotation] = `{"metadata":{}}` }, false},
		{"spec edit", func(m *metav1.ObjectMeta) { m.Generation++ }, true},
		{"annotation value", func(m *metav1.ObjectMeta) { m.Annotations["example.com/poke"] = "2" }, true},
		{"annotation added", func(m *metav1.ObjectMeta) { m.Annotations["example.com/other"] = "" }, true},
		{"annotations removed", func(m *metav1.ObjectMeta) { m.Annotations = nil }, true},
		{"value moved to another key", func(m *metav1.ObjectMeta) {
			m.Annotations = map[string]string{corev1.LastAppliedConfigAnnotation: `{"spec":{}}`, "example.com/pok": "e1"}
		}, true},
		{"deletion started", func(m *metav1.ObjectMeta) { m.DeletionTimestamp = &metav1.Time{}; m.Generation++ }, true},
	} {
		e := event.UpdateEvent{ObjectOld: cachedSiteOf(t, nil), ObjectNew: cachedSiteOf(t, func(m *metav1.ObjectMeta) {
			m.ResourceVersion = "43"
			c.change(m)
		})}
		if got := siteChanged.Update(e); got != c.wakes {
			t.Errorf("%s: wakes %v, want %v", c.name, got, c.wakes)
		}
	}
	if annotationsDigest(map[string]string{corev1.LastAppliedConfigAnnotation: "{}"}) != 0 || annotationsDigest(nil) != 0 {
		t.Errorf("no annotations but kubectl's copy: want digest 0")
	}
}
