package naming

import "fmt"

// Tags that mark AWS objects (buckets, ACM certificates, distributions, Secrets Manager secrets)
// as made by a SecureSite. A user adopts an existing bucket by tagging it TagOwner=<owner id>/<namespace>/<name>.
const (
	// TagOwner names the owning SecureSite, as Owner writes it.
	TagOwner = "securesite.io/owner"
	// TagDomain is the site's domain, for people browsing the AWS console.
	TagDomain = "securesite.io/domain"
	// TagOwnerID carries the controller's --owner-id alone, so an IAM policy can limit the
	// controller to its own objects (aws:ResourceTag/securesite.io/owner-id).
	TagOwnerID = "securesite.io/owner-id"
)

// DefaultSecretName is the TLS Secret name when spec.certificate.secretName is empty.
func DefaultSecretName(siteName string) string { return siteName + "-tls" }

// Owner is how a SecureSite is named in AWS ownership markers (the TXT registry records and the
// securesite.io/owner tag): <owner id>/<namespace>/<name>. The owner id (--owner-id) tells apart
// controllers of different clusters sharing one AWS account, so neither adopts the other's
// objects. Without an owner id (tests of single packages) it is <namespace>/<name>.
func Owner(ownerID, namespace, name string) string {
	if ownerID == "" {
		return fmt.Sprintf("%s/%s", namespace, name)
	}
	return fmt.Sprintf("%s/%s/%s", ownerID, namespace, name)
}

// OwnerIDProblem says why id cannot be an owner id ("" when it can): it goes into TXT records
// and tag values, and must stay short and unambiguous.
func OwnerIDProblem(id string) string {
	if id == "" || len(id) > 63 {
		return "owner id must be 1 to 63 characters"
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_'
		if !ok {
			return fmt.Sprintf("owner id %q may contain only letters, digits, '-', '.' and '_'", id)
		}
	}
	return ""
}

// ChallengeOwner owns a site's DNS-01 records: apart from the site's own records (owner), because
// the DNS phase makes the zone hold exactly what owner wants and must not delete a challenge in
// flight.
func ChallengeOwner(owner string) string { return owner + "/acme" }

// OwnerTags are the tags every AWS object a site makes carries.
func OwnerTags(owner, domain string) map[string]string {
	return map[string]string{TagOwner: owner, TagDomain: domain}
}
