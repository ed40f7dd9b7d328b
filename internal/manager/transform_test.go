package manager

import (
	"testing"
	"unsafe"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// The cache keeps neither managedFields nor kubectl's copy of the applied object, and keeps every
// other annotation (the controller reacts to annotation changes).
func TestCacheDropsWhatTheControllerNeverReads(t *testing.T) {
	g := NewWithT(t)
	site := &v1alpha1.SecureSite{ObjectMeta: metav1.ObjectMeta{
		Name: "duckhoo", Namespace: "web",
		Annotations: map[string]string{
			corev1.LastAppliedConfigAnnotation: `{"apiVersion":"securesite.io/v1alpha1","kind":"SecureSite","spec":{"domain":"duckhoo.site"}}`,
			"example.com/keep":                 "yes",
		},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}},
	}, Spec: v1alpha1.SecureSiteSpec{Domain: "duckhoo.site"}}
	out, err := stripUnread(site)
	g.Expect(err).NotTo(HaveOccurred())
	got := out.(*v1alpha1.SecureSite)
	g.Expect(got.ManagedFields).To(BeNil())
	g.Expect(got.Annotations).To(Equal(map[string]string{"example.com/keep": "yes"}))
	g.Expect(got.Spec.Domain).To(Equal("duckhoo.site"))

	// Namespaces are cached as metadata: the strings every namespace repeats are shared, their
	// values unchanged, and the rest of the metadata is kept.
	nsMeta := func() *metav1.PartialObjectMetadata {
		m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: string([]byte("")), UID: "5f0c3e2a-ns", ResourceVersion: "42",
			Finalizers:  []string{string([]byte("example.com/hold"))},
			Labels:      map[string]string{"team": "a"},
			Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: "{}", "example.com/keep": "yes"},
		}}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		m.APIVersion, m.Kind = string([]byte(m.APIVersion)), string([]byte(m.Kind))
		return m
	}
	a, b := nsMeta(), nsMeta()
	want := nsMeta()
	want.Annotations = map[string]string{"example.com/keep": "yes"}
	_, _ = stripUnread(a)
	_, _ = stripUnread(b)
	g.Expect(b).To(Equal(want))
	for _, field := range []func(m *metav1.PartialObjectMetadata) string{
		func(m *metav1.PartialObjectMetadata) string { return m.APIVersion },
		func(m *metav1.PartialObjectMetadata) string { return m.Kind },
		func(m *metav1.PartialObjectMetadata) string { return m.Finalizers[0] },
	} {
		g.Expect(unsafe.StringData(field(a))).To(Equal(unsafe.StringData(field(b))))
	}

	only := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: "{}"}}}
	out, err = stripUnread(only)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(*metav1.PartialObjectMetadata).Annotations).To(BeNil())

	notAnObject := "x"
	out, err = stripUnread(notAnObject)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(notAnObject))
}

// Of our Secrets the cache keeps the key, the resourceVersion and the controlling site: what
// wakes the site when its Secret changes or goes. A Secret no SecureSite controls wakes nobody.
func TestCachedSecretsKeepTheirSiteOnly(t *testing.T) {
	g := NewWithT(t)
	owner := metav1.OwnerReference{APIVersion: "securesite.io/v1alpha1", Kind: "SecureSite", Name: "duckhoo", UID: "u1",
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	secret := func(refs ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
			Name: "duckhoo-tls", Namespace: "web", UID: "9a1b-secret", ResourceVersion: "43",
			Labels:          map[string]string{v1alpha1.LabelManagedBy: v1alpha1.LabelManagedByValue},
			Annotations:     map[string]string{"securesite.io/serial": "0a"},
			OwnerReferences: refs,
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "securesite"}},
		}}
	}
	out, err := secretWakeFrom(secret(owner))
	g.Expect(err).NotTo(HaveOccurred())
	got, ok := out.(client.Object)
	g.Expect(ok).To(BeTrue(), "the informer and the event handlers take a client.Object")
	g.Expect(got.GetName()).To(Equal("duckhoo-tls"))
	g.Expect(got.GetNamespace()).To(Equal("web"))
	g.Expect(got.GetResourceVersion()).To(Equal("43"), "the informer tells a resync from an update by it")
	g.Expect(got.GetObjectKind().GroupVersionKind()).To(Equal(corev1.SchemeGroupVersion.WithKind("Secret")))
	ref := metav1.GetControllerOf(got)
	g.Expect(ref).NotTo(BeNil())
	g.Expect(ref.APIVersion).To(Equal(owner.APIVersion))
	g.Expect(ref.Kind).To(Equal(owner.Kind))
	g.Expect(ref.Name).To(Equal(owner.Name))
	g.Expect(ref.UID).To(BeEmpty(), "checked on the Secret read from the API server")
	g.Expect(got.GetLabels()).To(BeNil())
	g.Expect(got.GetAnnotations()).To(BeNil())
	g.Expect(got.GetManagedFields()).To(BeNil())
	g.Expect(got.DeepCopyObject()).To(Equal(got))

	again, _ := secretWakeFrom(got)
	g.Expect(again).To(BeIdenticalTo(got), "an object already transformed is kept as it is")

	notOurs := owner
	notOurs.APIVersion, notOurs.Kind = "apps/v1", "Deployment"
	uncontrolled := owner
	uncontrolled.Controller = nil
	for _, refs := range [][]metav1.OwnerReference{nil, {notOurs}, {uncontrolled}} {
		out, _ := secretWakeFrom(secret(refs...))
		g.Expect(out.(client.Object).GetOwnerReferences()).To(BeEmpty(), "refs %v", refs)
	}
}
