package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what happens to the S3 bucket and its objects when a SecureSite is deleted
// or its bucket is renamed.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionPolicyRetain keeps the bucket and every object in it (the default: content is data).
	DeletionPolicyRetain DeletionPolicy = "Retain"
	// DeletionPolicyDelete empties and deletes the bucket.
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// IssuerType selects where certificates come from.
// +kubebuilder:validation:Enum=acme;selfSigned
type IssuerType string

const (
	// IssuerACME issues through an ACME v2 CA (Let's Encrypt by default) with DNS-01 via Route53.
	IssuerACME IssuerType = "acme"
	// IssuerSelfSigned makes a self-signed certificate with the same Secret shape, for dev clusters.
	IssuerSelfSigned IssuerType = "selfSigned"
)

// KeyAlgorithm is the private key algorithm of the certificate.
// +kubebuilder:validation:Enum=ECDSA;RSA
type KeyAlgorithm string

const (
	KeyAlgorithmECDSA KeyAlgorithm = "ECDSA"
	KeyAlgorithmRSA   KeyAlgorithm = "RSA"
)

// PriceClass is the CloudFront price class.
// +kubebuilder:validation:Enum=PriceClass_100;PriceClass_200;PriceClass_All
type PriceClass string

const (
	PriceClass100 PriceClass = "PriceClass_100"
	PriceClass200 PriceClass = "PriceClass_200"
	PriceClassAll PriceClass = "PriceClass_All"
)

// SecureSiteSpec is what the user wants: a domain served over HTTPS, an optional backend API host
// and an optional static site in S3 behind CloudFront.
//
// Cross-field rules (CEL) are checked by the API server at apply time.
// +kubebuilder:validation:XValidation:rule="!has(self.backend) || has(self.hostedZoneID) || self.backend.hostname == self.domain || self.backend.hostname.endsWith('.' + self.domain) || (self.domain.indexOf('.') != self.domain.lastIndexOf('.') && self.backend.hostname.endsWith(self.domain.substring(self.domain.indexOf('.'))))",message="backend.hostname must be inside the site's DNS zone (the domain or its parent, e.g. api.example.com for example.com or www.example.com); set hostedZoneID to use another zone"
// +kubebuilder:validation:XValidation:rule="!has(self.backend) || !has(self.staticSite) || self.backend.hostname != self.domain",message="backend.hostname must differ from domain when staticSite is set: the domain points at CloudFront, the backend needs its own name (e.g. api.<domain>)"
// +kubebuilder:validation:XValidation:rule="!has(self.certificate) || !has(self.certificate.additionalDNSNames) || !(self.domain in self.certificate.additionalDNSNames)",message="certificate.additionalDNSNames must not repeat domain, which is always included"
// +kubebuilder:validation:XValidation:rule="!has(self.staticSite) || !has(self.certificate) || !has(self.certificate.privateKey) || !has(self.certificate.privateKey.algorithm) || self.certificate.privateKey.algorithm != 'ECDSA' || !has(self.certificate.privateKey.size) || self.certificate.privateKey.size != 384",message="certificate.privateKey ECDSA 384 cannot be used with staticSite: CloudFront accepts only RSA keys up to 4096 bits and ECDSA P-256 for viewer certificates; use ECDSA 256 or RSA"
// +kubebuilder:validation:XValidation:rule="!has(self.staticSite) || !has(self.certificate) || !has(self.certificate.issuer) || self.certificate.issuer != 'selfSigned'",message="certificate.issuer selfSigned cannot be used with staticSite: CloudFront serves only certificates from a CA that browsers trust, so a self-signed certificate can never be attached; use issuer acme"
// +kubebuilder:validation:XValidation:rule="!has(self.backend) || isIP(self.backend.address) || self.backend.hostname.indexOf('.') != self.backend.hostname.lastIndexOf('.')",message="backend.hostname is a zone apex (a registered domain such as example.com), where DNS allows no CNAME beside the zone's SOA and NS records: give backend.address as an IP address, or use a name below the apex such as api.example.com"
type SecureSiteSpec struct {
	// Domain is the site's DNS name, served by CloudFront when staticSite is set
	// (e.g. duckhoo.site). Lowercase, no wildcard, no trailing dot.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.size() <= 222",message="domain must be at most 222 characters: the controller writes the DNS-01 record _acme-challenge.<name> and its ownership record _securesite-txt._acme-challenge.<name>, and a DNS name holds at most 253"
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9.-]+$')",message="domain must be a lowercase DNS name of letters, digits, hyphens and dots (no wildcard, uppercase, underscore or unicode; write IDNs in punycode, xn--...)"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?[.])+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$')",message="domain must be a fully qualified DNS name such as example.com: labels of 1-63 characters that start and end with a letter or digit, separated by single dots, no trailing dot"
	Domain string `json:"domain"`

	// HostedZoneID is the Route53 hosted zone to write records into. When empty, the public zone
	// whose name is the longest suffix of domain is used.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^(/hostedzone/)?[A-Za-z0-9-]+$`
	HostedZoneID string `json:"hostedZoneID,omitempty"`

	// Backend is the API server: a DNS record for it, and its name on the certificate.
	// +optional
	Backend *BackendSpec `json:"backend,omitempty"`

	// Certificate configures the certificate covering domain, backend.hostname and
	// additionalDNSNames, stored as a kubernetes.io/tls Secret.
	// +optional
	Certificate CertificateSpec `json:"certificate,omitempty"`

	// StaticSite serves a static client (e.g. a React build) from S3 through CloudFront at domain.
	// +optional
	StaticSite *StaticSiteSpec `json:"staticSite,omitempty"`

	// DeletionPolicy says what happens to the bucket when the site is deleted or the bucket renamed.
	// Retain (default) keeps the bucket and its objects; Delete empties and deletes it.
	// +optional
	// +kubebuilder:default=Retain
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// ClassName names the SecureSiteClass that grants this site its names, zones, CA and
	// prefixes. When empty, the class annotated securesite.io/is-default-class: "true" applies.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ClassName string `json:"className,omitempty"`

	// Suspend stops all changes in AWS: the controller still observes and reports status.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// BackendSpec is the API server's DNS name and address.
// +kubebuilder:validation:XValidation:rule="self.address != self.hostname",message="backend.address must not be the backend's own hostname: a CNAME to itself never resolves"
type BackendSpec struct {
	// Hostname is the backend's DNS name (e.g. infra.duckhoo.site).
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.size() <= 222",message="backend.hostname must be at most 222 characters: the controller writes the DNS-01 record _acme-challenge.<name> and its ownership record _securesite-txt._acme-challenge.<name>, and a DNS name holds at most 253"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?[.])+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$')",message="backend.hostname must be a lowercase fully qualified DNS name such as api.example.com (no wildcard, no trailing dot)"
	Hostname string `json:"hostname"`

	// Address is where the backend runs: an IPv4 address (A record), an IPv6 address (AAAA) or a
	// DNS name (CNAME), e.g. an EC2 Elastic IP.
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="isIP(self) || self.matches('^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?[.])+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$')",message="backend.address must be an IPv4 address, an IPv6 address or a lowercase DNS name"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || !ip(self).isUnspecified() && !ip(self).isLoopback()",message="backend.address must be a routable address, not 0.0.0.0, :: or loopback"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || ip(self).isGlobalUnicast()",message="backend.address must be a unicast address, not link-local (169.254.0.0/16 and fe80::/10, where 169.254.169.254 is the cloud instance metadata service), multicast or broadcast"
	Address string `json:"address"`

	// TTL of the backend record in seconds.
	// +optional
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=30
	// +kubebuilder:validation:Maximum=86400
	TTL int64 `json:"ttl,omitempty"`
}

// CertificateSpec configures how the certificate is issued and stored. The ACME server and
// account come from the site's SecureSiteClass: a tenant does not choose the CA.
type CertificateSpec struct {
	// Issuer is acme (default: the CA of the site's SecureSiteClass) or selfSigned.
	// +optional
	// +kubebuilder:default=acme
	Issuer IssuerType `json:"issuer,omitempty"`

	// SecretName is the kubernetes.io/tls Secret to write. Default: <name>-tls.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	SecretName string `json:"secretName,omitempty"`

	// AdditionalDNSNames are extra names on the certificate (and CloudFront aliases when staticSite
	// is set). At most 98: with domain and backend a certificate holds at most 100 names (Let's
	// Encrypt's limit, and CloudFront's alias limit).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=98
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule="self.size() <= 222",message="each additionalDNSNames entry must be at most 222 characters: the controller writes the DNS-01 record _acme-challenge.<name> and its ownership record _securesite-txt._acme-challenge.<name>, and a DNS name holds at most 253"
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^([*][.])?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?[.])+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$')",message="each additionalDNSNames entry must be a lowercase DNS name; a wildcard is allowed only as a leading '*.'"
	AdditionalDNSNames []string `json:"additionalDNSNames,omitempty"`

	// PrivateKey selects the key algorithm and size. Default ECDSA P-256.
	// +optional
	PrivateKey PrivateKeySpec `json:"privateKey,omitempty"`

	// Export also delivers the certificate outside the cluster, e.g. to a backend on EC2 that
	// fetches it with securesite-agent.
	// +optional
	Export *CertificateExport `json:"export,omitempty"`
}

// CertificateExport lists where the certificate is copied besides the Secret.
type CertificateExport struct {
	// SecretsManager writes the chain and key to an AWS Secrets Manager secret as one JSON document
	// ({certificate, chain, privateKey, notAfter, serial}); each renewal is a new version.
	// +optional
	SecretsManager *SecretsManagerExport `json:"secretsManager,omitempty"`
}

// SecretsManagerExport names the Secrets Manager secret.
type SecretsManagerExport struct {
	// Name of the secret (e.g. securesite/infra.duckhoo.site).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9/_+=.@-]+$`
	Name string `json:"name"`
	// Region of the secret. Default: the controller's --aws-region.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z]{2}(-[a-z]+)+-[0-9]$')",message="region must be an AWS region name such as ap-northeast-2"
	Region string `json:"region,omitempty"`
	// KMSKeyID encrypts the secret with a customer managed key instead of aws/secretsmanager.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	KMSKeyID string `json:"kmsKeyID,omitempty"`
}

// PrivateKeySpec is the certificate's key algorithm and size.
// +kubebuilder:validation:XValidation:rule="!has(self.size) || (has(self.algorithm) && self.algorithm == 'RSA' ? self.size in [2048, 3072, 4096] : self.size in [256, 384])",message="privateKey.size must be 256 or 384 for ECDSA, and 2048, 3072 or 4096 for RSA"
type PrivateKeySpec struct {
	// Algorithm is ECDSA (default) or RSA.
	// +optional
	// +kubebuilder:default=ECDSA
	Algorithm KeyAlgorithm `json:"algorithm,omitempty"`

	// Size is the curve size for ECDSA (256, 384) or the modulus for RSA (2048, 3072, 4096).
	// Default: 256 for ECDSA, 2048 for RSA.
	// +optional
	Size int32 `json:"size,omitempty"`
}

// StaticSiteSpec is the S3 bucket and CloudFront distribution serving the site's client.
type StaticSiteSpec struct {
	// Bucket is the S3 bucket holding the static files. Default: derived from domain, with dots
	// replaced by hyphens. Changing it migrates the objects to the new bucket and repoints
	// CloudFront; the old bucket is kept or deleted per deletionPolicy.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.size() >= 3 && self.size() <= 63",message="bucket name must be between 3 and 63 characters long"
	// +kubebuilder:validation:XValidation:rule="!self.contains('.')",message="bucket name must not contain dots: S3 serves buckets over HTTPS as <bucket>.s3.amazonaws.com, and the *.s3.amazonaws.com wildcard certificate does not cover names with dots, so HTTPS to the bucket breaks; use hyphens instead (e.g. test-duckhoo-site)"
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9.-]*$')",message="bucket name may contain only lowercase letters, digits and hyphens"
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9].*[a-z0-9]$')",message="bucket name must start and end with a lowercase letter or digit"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$')",message="bucket name must not be formatted as an IP address"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('xn--') && !self.startsWith('sthree-') && !self.startsWith('amzn-s3-demo-')",message="bucket name must not start with the reserved prefixes xn--, sthree- or amzn-s3-demo-"
	// +kubebuilder:validation:XValidation:rule="!self.endsWith('-s3alias') && !self.endsWith('--ol-s3') && !self.endsWith('--x-s3') && !self.endsWith('--table-s3')",message="bucket name must not end with the reserved suffixes -s3alias, --ol-s3, --x-s3 or --table-s3"
	// +kubebuilder:validation:MaxLength=255
	Bucket string `json:"bucket,omitempty"`

	// Region is the bucket's AWS region. Default: the controller's --aws-region.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z]{2}(-[a-z]+)+-[0-9]$')",message="region must be an AWS region name such as ap-northeast-2"
	Region string `json:"region,omitempty"`

	// IndexDocument is served for / (CloudFront default root object).
	// +optional
	// +kubebuilder:default=index.html
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[^/][^\s]*$`
	IndexDocument string `json:"indexDocument,omitempty"`

	// SPAFallback serves /<indexDocument> with status 200 for 403 and 404 responses, so client-side
	// routes (React Router) work on reload.
	// +optional
	SPAFallback bool `json:"spaFallback,omitempty"`

	// PriceClass is the CloudFront price class.
	// +optional
	// +kubebuilder:default=PriceClass_100
	PriceClass PriceClass `json:"priceClass,omitempty"`
}

// SecureSiteStatus is what the controller observed and did.
type SecureSiteStatus struct {
	// ObservedGeneration is the generation last reconciled without error.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready summarises; DNSReady, CertificateReady, BucketReady, DistributionReady per
	// phase; Reconciling and Stalled for kstatus.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// +optional
	Certificate *CertificateStatus `json:"certificate,omitempty"`
	// +optional
	Bucket *BucketStatus `json:"bucket,omitempty"`
	// +optional
	Distribution *DistributionStatus `json:"distribution,omitempty"`
	// +optional
	DNS *DNSStatus `json:"dns,omitempty"`
	// +optional
	URLs *URLsStatus `json:"urls,omitempty"`
}

// CertificateStatus describes the certificate in the Secret.
type CertificateStatus struct {
	SecretName   string       `json:"secretName,omitempty"`
	SerialNumber string       `json:"serialNumber,omitempty"`
	DNSNames     []string     `json:"dnsNames,omitempty"`
	NotBefore    *metav1.Time `json:"notBefore,omitempty"`
	NotAfter     *metav1.Time `json:"notAfter,omitempty"`
	// RenewalTime is when the controller will renew (ARI window, else one third of lifetime left).
	RenewalTime *metav1.Time `json:"renewalTime,omitempty"`
	// ACMCertificateARN is the certificate imported into ACM in us-east-1 for CloudFront.
	ACMCertificateARN string `json:"acmCertificateARN,omitempty"`
	// ACMImportedSerial is the serial of the certificate last imported into ACM; a renewal
	// re-imports to the same ARN.
	ACMImportedSerial string `json:"acmImportedSerial,omitempty"`
	// ACMRetiredCertificateARNs are the ACM certificates new key algorithms or sizes replaced
	// (AWS refuses to re-import a certificate with another key to the same ARN), oldest first.
	// Each is deleted once the distribution serves ACMCertificateARN and is Deployed, or with the
	// site. Several wait when the key changed again before the distribution finished deploying;
	// while MaxRetiredACMCertificates wait, a key change waits for them to go.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=set
	ACMRetiredCertificateARNs []string `json:"acmRetiredCertificateARNs,omitempty"`
	// ACMRetiredCertificateARN is where earlier versions kept the one replaced certificate they
	// remembered. Superseded by ACMRetiredCertificateARNs: it is only read, to carry a
	// retirement over an upgrade, and a pass moves it into the list.
	// +optional
	ACMRetiredCertificateARN string `json:"acmRetiredCertificateARN,omitempty"`
	// Issuer says which issuer made the certificate (acme directory URL or selfSigned).
	Issuer string `json:"issuer,omitempty"`
	// FailedAttempts counts consecutive failed issuance attempts; it drives the backoff.
	FailedAttempts int32 `json:"failedAttempts,omitempty"`
	// LastFailureTime is when the last attempt failed.
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`
	// NextAttemptTime is the earliest time of the next attempt after a failure.
	NextAttemptTime *metav1.Time `json:"nextAttemptTime,omitempty"`
	// LastFailureMessage says why the last attempt failed.
	LastFailureMessage string `json:"lastFailureMessage,omitempty"`
	// FailedRequest fingerprints the request that failed (names, key, CA): a changed spec is not
	// held back by the old request's backoff.
	FailedRequest string `json:"failedRequest,omitempty"`
	// Export is where the certificate was last exported.
	Export *ExportStatus `json:"export,omitempty"`
}

// MaxRetiredACMCertificates bounds status.certificate.acmRetiredCertificateARNs (its MaxItems).
const MaxRetiredACMCertificates = 16

// ExportStatus describes the exported copy of the certificate.
type ExportStatus struct {
	SecretsManagerARN string `json:"secretsManagerARN,omitempty"`
	VersionID         string `json:"versionID,omitempty"`
	// Serial is the certificate serial in the exported version.
	Serial string `json:"serial,omitempty"`
}

// BucketStatus describes the S3 bucket.
type BucketStatus struct {
	Name               string           `json:"name,omitempty"`
	Region             string           `json:"region,omitempty"`
	RegionalDomainName string           `json:"regionalDomainName,omitempty"`
	Migration          *MigrationStatus `json:"migration,omitempty"`
}

// The phases of a bucket migration, in order.
const (
	// MigrationPhaseCopying: objects are being copied to the new bucket.
	MigrationPhaseCopying = "Copying"
	// MigrationPhaseSwitching: every object is copied; the distribution's origin moves to the new bucket.
	MigrationPhaseSwitching = "Switching"
	// MigrationPhaseDone: the distribution serves from the new bucket; the old one was kept or deleted.
	MigrationPhaseDone = "Done"
)

// MigrationStatus is the progress of copying objects to a renamed bucket.
type MigrationStatus struct {
	From          string `json:"from,omitempty"`
	To            string `json:"to,omitempty"`
	CopiedObjects int64  `json:"copiedObjects,omitempty"`
	TotalObjects  int64  `json:"totalObjects,omitempty"`
	// Phase is Copying, Switching or Done.
	Phase string `json:"phase,omitempty"`
	// LastKey is the last object key copied, so a restarted controller resumes after it.
	LastKey string `json:"lastKey,omitempty"`
}

// DistributionStatus describes the CloudFront distribution.
type DistributionStatus struct {
	// OriginAccessControlID is the OAC through which CloudFront reads the bucket.
	OriginAccessControlID string `json:"originAccessControlID,omitempty"`
	// Origin is the bucket the distribution serves from.
	Origin     string `json:"origin,omitempty"`
	ID         string `json:"id,omitempty"`
	ARN        string `json:"arn,omitempty"`
	DomainName string `json:"domainName,omitempty"`
	Status     string `json:"status,omitempty"`
	ETag       string `json:"eTag,omitempty"`
}

// DNSStatus lists the records the controller owns.
type DNSStatus struct {
	HostedZoneID string         `json:"hostedZoneID,omitempty"`
	Records      []RecordStatus `json:"records,omitempty"`
	// PendingChangeID is the Route53 change the controller waits on until it is INSYNC.
	PendingChangeID string `json:"pendingChangeID,omitempty"`
}

// RecordStatus is one owned record.
type RecordStatus struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value,omitempty"`
}

// URLsStatus are the HTTPS endpoints, once they are served with a valid certificate.
type URLsStatus struct {
	Site string `json:"site,omitempty"`
	API  string `json:"api,omitempty"`
}

// Cert-Expiry is a string column on purpose: a `date` column prints a timestamp's age, and kubectl
// shows "<invalid>" for every time in the future, which a certificate's expiry always is.

// SecureSite turns a domain, a backend host and a static-site bucket into a secure website on AWS.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ssite;ssites,categories=securesite
// +kubebuilder:printcolumn:name="Domain",type=string,JSONPath=`.spec.domain`
// +kubebuilder:printcolumn:name="Class",type=string,priority=1,JSONPath=`.spec.className`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Cert-Expiry",type=string,JSONPath=`.status.certificate.notAfter`
// +kubebuilder:printcolumn:name="Distribution",type=string,JSONPath=`.status.distribution.domainName`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="metadata.name must be at most 63 characters: it is the value of the securesite.io/site label on the certificate Secret, and a label value holds at most 63"
type SecureSite struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SecureSiteSpec   `json:"spec,omitempty"`
	Status SecureSiteStatus `json:"status,omitempty"`
}

// SecureSiteList is a list of SecureSites.
// +kubebuilder:object:root=true
type SecureSiteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SecureSite `json:"items"`
}
