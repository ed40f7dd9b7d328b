package manager

import (
	"testing"
	"unsafe"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

	// Strings every site repeats are shared, their values unchanged.
	cond := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Reconciled", Message: "all endpoints secure"}
	a := &v1alpha1.SecureSite{ObjectMeta: metav1.ObjectMeta{Namespace: string([]byte("web"))}, Status: v1alpha1.SecureSiteStatus{Conditions: []metav1.Condition{cond}}}
	b := a.DeepCopy()
	b.Namespace = string([]byte("web"))
	_, _ = stripUnread(a)
	_, _ = stripUnread(b)
	g.Expect(unsafe.StringData(a.Namespace)).To(Equal(unsafe.StringData(b.Namespace)))
	g.Expect(unsafe.StringData(a.Status.Conditions[0].Reason)).To(Equal(unsafe.StringData(b.Status.Conditions[0].Reason)))
	g.Expect(b.Status.Conditions[0]).To(Equal(cond))

	only := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: "{}"}}}
	out, err = stripUnread(only)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(*metav1.PartialObjectMetadata).Annotations).To(BeNil())

	notAnObject := "x"
	out, err = stripUnread(notAnObject)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(notAnObject))
}

// Our Secrets are cached as their metadata without labels and annotations: the controller reads
// their owner there and everything else from the API server.
func TestCachedSecretsKeepTheirOwnerOnly(t *testing.T) {
	g := NewWithT(t)
	owner := metav1.OwnerReference{APIVersion: "securesite.io/v1alpha1", Kind: "SecureSite", Name: "duckhoo", UID: "u1"}
	in := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name: "duckhoo-tls", Namespace: "web",
		Labels:          map[string]string{v1alpha1.LabelManagedBy: v1alpha1.LabelManagedByValue},
		Annotations:     map[string]string{"securesite.io/serial": "0a"},
		OwnerReferences: []metav1.OwnerReference{owner},
		ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "securesite"}},
	}}
	out, err := stripUnreadSecret(in)
	g.Expect(err).NotTo(HaveOccurred())
	got := out.(*metav1.PartialObjectMetadata)
	g.Expect(got.Annotations).To(BeNil())
	g.Expect(got.ManagedFields).To(BeNil())
	g.Expect(got.OwnerReferences).To(Equal([]metav1.OwnerReference{owner}))
	g.Expect(got.Labels).To(BeNil())
	g.Expect(got.Name).To(Equal("duckhoo-tls"))
}
