package naming

import "fmt"

// DefaultSecretName is the TLS Secret name when spec.certificate.secretName is empty.
func DefaultSecretName(siteName string) string { return siteName + "-tls" }

// Owner is how a SecureSite is named in AWS ownership markers: <namespace>/<name>.
func Owner(namespace, name string) string { return fmt.Sprintf("%s/%s", namespace, name) }
