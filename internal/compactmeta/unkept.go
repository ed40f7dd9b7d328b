// Package compactmeta holds what the informer cache's compact objects share: the metadata they
// do not keep. The cache keeps of some kinds only what wakes their site (a key, a resourceVersion,
// a few facts), in types far smaller than a PartialObjectMetadata; to be stored by an informer
// and handed to controller-runtime's event handlers they must still be client.Objects.
package compactmeta

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Unkept is embedded first (a zero-size last field would be padded) in a compact cached object:
// the metadata that object does not keep reads as empty, and setting it does nothing. The object
// defines the getters of what it keeps, which take precedence over these.
type Unkept struct{}

func (Unkept) GetNamespace() string                          { return "" }
func (Unkept) SetNamespace(string)                           {}
func (Unkept) GetName() string                               { return "" }
func (Unkept) SetName(string)                                {}
func (Unkept) GetGenerateName() string                       { return "" }
func (Unkept) SetGenerateName(string)                        {}
func (Unkept) GetUID() types.UID                             { return "" }
func (Unkept) SetUID(types.UID)                              {}
func (Unkept) GetResourceVersion() string                    { return "" }
func (Unkept) SetResourceVersion(string)                     {}
func (Unkept) GetGeneration() int64                          { return 0 }
func (Unkept) SetGeneration(int64)                           {}
func (Unkept) GetSelfLink() string                           { return "" }
func (Unkept) SetSelfLink(string)                            {}
func (Unkept) GetCreationTimestamp() metav1.Time             { return metav1.Time{} }
func (Unkept) SetCreationTimestamp(metav1.Time)              {}
func (Unkept) GetDeletionTimestamp() *metav1.Time            { return nil }
func (Unkept) SetDeletionTimestamp(*metav1.Time)             {}
func (Unkept) GetDeletionGracePeriodSeconds() *int64         { return nil }
func (Unkept) SetDeletionGracePeriodSeconds(*int64)          {}
func (Unkept) GetLabels() map[string]string                  { return nil }
func (Unkept) SetLabels(map[string]string)                   {}
func (Unkept) GetAnnotations() map[string]string             { return nil }
func (Unkept) SetAnnotations(map[string]string)              {}
func (Unkept) GetFinalizers() []string                       { return nil }
func (Unkept) SetFinalizers([]string)                        {}
func (Unkept) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (Unkept) SetOwnerReferences([]metav1.OwnerReference)    {}
func (Unkept) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (Unkept) SetManagedFields([]metav1.ManagedFieldsEntry)  {}

var _ metav1.Object = Unkept{}

// Kind is the fixed kind of a compact object: an informer holds objects of one kind alone, so
// setting it does nothing. Objects return a pointer to one package-level Kind, which costs them
// no field.
type Kind struct{ GVK schema.GroupVersionKind }

func (*Kind) SetGroupVersionKind(schema.GroupVersionKind) {}
func (k *Kind) GroupVersionKind() schema.GroupVersionKind { return k.GVK }
