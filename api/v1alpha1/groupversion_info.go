// Package v1alpha1 contains the SecureSite API, group securesite.io, version v1alpha1.
// +kubebuilder:object:generate=true
// +groupName=securesite.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The API package depends on apimachinery only, so other projects can import the types cheaply.
var (
	// GroupVersion is the group and version of the SecureSite API.
	GroupVersion = schema.GroupVersion{Group: "securesite.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &SecureSite{}, &SecureSiteList{}, &SecureSiteClass{}, &SecureSiteClassList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
