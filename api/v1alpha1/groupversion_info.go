// Package v1alpha1 contains the SecureSite API, group securesite.io, version v1alpha1.
// +kubebuilder:object:generate=true
// +groupName=securesite.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the SecureSite API.
	GroupVersion = schema.GroupVersion{Group: "securesite.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
