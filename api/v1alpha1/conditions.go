package v1alpha1

// Condition types. Ready summarises the others; Reconciling and Stalled are the kstatus
// abnormal-true conditions, so generic tools (kubectl wait, Argo CD, Flux) understand the object.
const (
	ConditionReady             = "Ready"
	ConditionReconciling       = "Reconciling"
	ConditionStalled           = "Stalled"
	ConditionDNSReady          = "DNSReady"
	ConditionCertificateReady  = "CertificateReady"
	ConditionExportReady       = "ExportReady"
	ConditionBucketReady       = "BucketReady"
	ConditionDistributionReady = "DistributionReady"
)

// Condition reasons: CamelCase, stable, safe to match on. Details go into the message.
const (
	ReasonReconciled    = "Reconciled"
	ReasonProgressing   = "Progressing"
	ReasonNotConfigured = "NotConfigured"
	ReasonSuspended     = "Suspended"
	ReasonDeleting      = "Deleting"
	ReasonInvalidSpec   = "InvalidSpec"
	ReasonAWSError      = "AWSError"
	// ReasonReconcileError: a step failed for another reason (e.g. the Kubernetes API); retried.
	ReasonReconcileError = "ReconcileError"
	ReasonNotSupported   = "NotSupportedYet"
	// ReasonNotPermitted: the site's SecureSiteClass (or the controller's fences) does not allow
	// a name, zone, bucket or export it asks for; nothing is written in AWS.
	ReasonNotPermitted = "NotPermitted"

	// DNS
	ReasonZoneNotFound   = "ZoneNotFound"
	ReasonRecordConflict = "RecordConflict"
	// ReasonCNAMEAtZoneApex: the backend hostname is the hosted zone's apex and its address a DNS
	// name; DNS allows no CNAME beside the apex's SOA and NS records (RFC 1034 3.6.2).
	ReasonCNAMEAtZoneApex = "CNAMEAtZoneApex"
	ReasonRecordsPending  = "RecordsPending"
	ReasonRecordsInSync   = "RecordsInSync"

	// Certificate
	ReasonIssuing          = "Issuing"
	ReasonIssued           = "Issued"
	ReasonIssuanceFailed   = "IssuanceFailed"
	ReasonBackingOff       = "BackingOff"
	ReasonSecretConflict   = "SecretConflict"
	ReasonWaitingForDNS    = "WaitingForDNS"
	ReasonImportingToACM   = "ImportingToACM"
	ReasonRenewalScheduled = "RenewalScheduled"
	// ReasonRateLimited: the order waits for the CA's rate limits (a budget or a Retry-After);
	// the message says when it is expected to be sent. Not a failure, not a backoff.
	ReasonRateLimited = "RateLimited"

	// Bucket and distribution
	ReasonBucketOwnedElsewhere = "BucketOwnedElsewhere"
	ReasonMigrating            = "Migrating"
	ReasonDeploying            = "Deploying"
	ReasonDeployed             = "Deployed"
	ReasonWaitingForCert       = "WaitingForCertificate"
)

// Finalizer holds a SecureSite until what it created in AWS is cleaned up.
const Finalizer = "securesite.io/cleanup"

// Labels and annotations the controller sets on what it owns.
const (
	// LabelManagedBy marks Secrets the controller manages; the manager's cache only holds Secrets
	// with this label, so unrelated Secrets in the cluster cost no memory.
	LabelManagedBy      = "app.kubernetes.io/managed-by"
	LabelManagedByValue = "securesite"
	// LabelSiteName names the owning SecureSite on a managed Secret.
	LabelSiteName = "securesite.io/site"
)
