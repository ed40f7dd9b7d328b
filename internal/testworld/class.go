package testworld

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// DefaultClassName is the SecureSiteClass every test world grants unless WithoutDefaultClass.
const DefaultClassName = "test-world"

// TestWorldDomains are the names the test world's default class grants: the test TLDs its
// zones live under (duckhoo.site, *.test, *.example).
var TestWorldDomains = []string{"test", "site", "example"}

// DefaultClass is the class a test world starts with: the default class, selecting every
// namespace, granting the test domains and wildcards below them, with the controller's own ACME
// flags. Tests of the
// controller's other features run under it, as a single-team cluster would; tests of sharing a
// cluster start without it.
func DefaultClass() *v1alpha1.SecureSiteClass {
	return &v1alpha1.SecureSiteClass{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultClassName, Annotations: map[string]string{v1alpha1.AnnotationDefaultClass: "true"}},
		Spec: v1alpha1.SecureSiteClassSpec{
			NamespaceSelector:         &metav1.LabelSelector{},
			Domains:                   TestWorldDomains,
			AllowWildcardCertificates: true,
		},
	}
}

// CreateDefaultClass creates DefaultClass in the API server at cfg.
func CreateDefaultClass(ctx context.Context, cfg *rest.Config) error {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return err
	}
	if err := c.Create(ctx, DefaultClass()); err != nil {
		return fmt.Errorf("creating the default SecureSiteClass: %w", err)
	}
	return nil
}
