package manager

import (
	"strings"
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/compactmeta"
)

// secretWake is all the cache keeps of one of our Secrets: its key, its resourceVersion and the
// name of the SecureSite that controls it. Nothing reads Secrets from the cache (a pass reads its
// site's Secret from the API server); the informer keeps them so that a Secret changed or deleted
// by hand wakes its site, which takes the key and the controlling site alone. A Secret's metadata
// as a PartialObjectMetadata was about 320 bytes before its strings; this is 64.
//
// It is a client.Object so the informer and controller-runtime's event handlers take it; the
// metadata it does not keep reads as empty and setting it does nothing (compactmeta.Unkept).
type secretWake struct {
	compactmeta.Unkept
	name, namespace, resourceVersion string
	site                             string // "" when no SecureSite controls the Secret
}

// secretWakeFrom is the cache's transform for our Secrets.
func secretWakeFrom(in any) (any, error) {
	m, ok := in.(*metav1.PartialObjectMetadata)
	if !ok {
		return in, nil // already transformed, or a tombstone
	}
	w := &secretWake{name: m.Name, namespace: unique.Make(m.Namespace).Value(), resourceVersion: m.ResourceVersion}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil && ref.Kind == siteKind {
		if group, _, _ := strings.Cut(ref.APIVersion, "/"); group == v1alpha1.GroupVersion.Group {
			w.site = ref.Name
			if strings.HasPrefix(w.name, ref.Name) {
				w.site = w.name[:len(ref.Name)] // "<site>-tls" by default: one copy of the site's name
			}
		}
	}
	return w, nil
}

const siteKind = "SecureSite"

var (
	siteAPIVersion = v1alpha1.GroupVersion.String()
	secretKind     = compactmeta.Kind{GVK: schema.GroupVersionKind{Version: "v1", Kind: "Secret"}}
)

// GetOwnerReferences is the controlling site, the one reference the event handler looks at
// (Owns enqueues the controller only); the UID is checked on the copy read from the API server.
func (w *secretWake) GetOwnerReferences() []metav1.OwnerReference {
	if w.site == "" {
		return nil
	}
	controller := true
	return []metav1.OwnerReference{{APIVersion: siteAPIVersion, Kind: siteKind, Name: w.site, Controller: &controller}}
}

func (w *secretWake) GetName() string            { return w.name }
func (w *secretWake) GetNamespace() string       { return w.namespace }
func (w *secretWake) GetResourceVersion() string { return w.resourceVersion }

// GetObjectKind is v1 Secret: the cache holds Secrets alone.
func (w *secretWake) GetObjectKind() schema.ObjectKind { return &secretKind }

// DeepCopyObject copies it: every field is a string.
func (w *secretWake) DeepCopyObject() runtime.Object { c := *w; return &c }

var _ client.Object = (*secretWake)(nil)
