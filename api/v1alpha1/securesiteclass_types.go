package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnnotationDefaultClass marks the SecureSiteClass that applies to sites naming none (as
// IngressClass does with ingressclass.kubernetes.io/is-default-class).
const AnnotationDefaultClass = "securesite.io/is-default-class"

// SecureSiteClassSpec is a cluster admin's grant: which namespaces may claim which names, in which
// zones, with which CA, and under which bucket and Secrets Manager name prefixes.
type SecureSiteClassSpec struct {
	// NamespaceSelector selects the namespaces whose sites may use this class. Unset or empty
	// match expressions with no labels ({}) differ: unset selects no namespace, {} selects all.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// Domains are the names the selected namespaces may use: a name is allowed when it equals an
	// entry or is below it (duckhoo.site allows infra.duckhoo.site). A name the controller
	// reserves (--reserved-names, e.g. the apex or www) is allowed only when listed here exactly.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?[.])*[a-z]([a-z0-9-]{0,61}[a-z0-9])?$')",message="each domains entry must be a lowercase DNS name such as team-a.example.com, without a trailing dot (no wildcard: an entry already allows every name below it)"
	Domains []string `json:"domains,omitempty"`

	// AllowWildcardCertificates lets sites of this class put *.<name> on a certificate (the name
	// itself must still be allowed). Default false: a wildcard certificate serves names the
	// class may not otherwise claim.
	// +optional
	AllowWildcardCertificates bool `json:"allowWildcardCertificates,omitempty"`

	// HostedZoneIDs, when set, are the only Route53 zones sites of this class may write. A private
	// hosted zone is written only when it is listed here.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:Pattern=`^(/hostedzone/)?[A-Za-z0-9-]+$`
	HostedZoneIDs []string `json:"hostedZoneIDs,omitempty"`

	// ACME is the CA the class's sites get their certificates from. Fields left empty take the
	// controller's --acme-server, --acme-email and --acme-ca-bundle.
	// +optional
	ACME *ClassACME `json:"acme,omitempty"`

	// BucketPrefix, when set, is the prefix every S3 bucket of the class's sites must start with.
	// +optional
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9-]*$`
	BucketPrefix string `json:"bucketPrefix,omitempty"`

	// SecretsManagerPrefix, when set, is the prefix every exported Secrets Manager secret name of
	// the class's sites must start with (e.g. team-a/).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9/_+=.@-]+$`
	SecretsManagerPrefix string `json:"secretsManagerPrefix,omitempty"`
}

// ClassACME names the ACME server, account and the CA that signs the server's TLS.
type ClassACME struct {
	// Server is the ACME directory URL. Default: the controller's --acme-server.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') && isURL(self) && url(self).getHostname() != ''",message="acme.server must be an https:// ACME directory URL"
	Server string `json:"server,omitempty"`

	// Email is the ACME account contact. Default: the controller's --acme-email.
	// +optional
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@\\\\s]+@[^@\\\\s]+[.][^@\\\\s]+$')",message="acme.email must be an email address"
	Email string `json:"email,omitempty"`

	// CABundle is PEM of the CAs to trust for the ACME server's TLS (a private or test CA).
	// Default: the controller's --acme-ca-bundle, else the system roots.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	CABundle string `json:"caBundle,omitempty"`
}

// SecureSiteClass is a cluster-scoped grant from the cluster admin: the namespaces it selects may
// create SecureSites for its domains, in its zones, with its CA. A site its class does not allow
// is reported NotPermitted and nothing is written in AWS.
// +kubebuilder:object:root=true
// No category: "securesite" is the SecureSite kind's category, and kubectl expands a name that is
// also a category to every kind in it, so `kubectl get securesite <name>` would become ambiguous.
// +kubebuilder:resource:scope=Cluster,shortName=ssclass
// +kubebuilder:printcolumn:name="Domains",type=string,JSONPath=`.spec.domains`
// +kubebuilder:printcolumn:name="Wildcards",type=boolean,JSONPath=`.spec.allowWildcardCertificates`
// +kubebuilder:printcolumn:name="Default",type=string,JSONPath=`.metadata.annotations.securesite\.io/is-default-class`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SecureSiteClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec SecureSiteClassSpec `json:"spec,omitempty"`
}

// SecureSiteClassList is a list of SecureSiteClasses.
// +kubebuilder:object:root=true
type SecureSiteClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SecureSiteClass `json:"items"`
}
