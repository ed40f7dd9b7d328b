package manager

import (
	"testing"

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

	only := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: "{}"}}}
	out, err = stripUnread(only)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(*metav1.PartialObjectMetadata).Annotations).To(BeNil())

	notAnObject := "x"
	out, err = stripUnread(notAnObject)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(notAnObject))
}
