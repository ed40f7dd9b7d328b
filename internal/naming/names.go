package naming

import "fmt"

// Tags that mark AWS objects (buckets, ACM certificates, distributions, Secrets Manager secrets)
// as made by a SecureSite. A user adopts an existing bucket by tagging it TagOwner=<namespace>/<name>.
const (
	// TagOwner names the owning SecureSite, as Owner writes it.
	TagOwner = "securesite.io/owner"
	// TagDomain is the site's domain, for people browsing the AWS console.
	TagDomain = "securesite.io/domain"
)

// DefaultSecretName is the TLS Secret name when spec.certificate.secretName is empty.
func DefaultSecretName(siteName string) string { return siteName + "-tls" }

// Owner is how a SecureSite is named in AWS ownership markers: <namespace>/<name>.
func Owner(namespace, name string) string { return fmt.Sprintf("%s/%s", namespace, name) }

// ChallengeOwner owns a site's DNS-01 records: apart from the site's own records (owner), because
// the DNS phase makes the zone hold exactly what owner wants and must not delete a challenge in
// flight.
func ChallengeOwner(owner string) string { return owner + "/acme" }

// OwnerTags are the tags every AWS object a site makes carries.
func OwnerTags(owner, domain string) map[string]string {
	return map[string]string{TagOwner: owner, TagDomain: domain}
}
