package v1alpha1

// The spec's defaults. The CRD applies them at `kubectl apply` (the +kubebuilder:default marker
// beside each field; a test checks the generated CRD agrees); the controller reads each field
// through the accessor below, which applies the same default to objects made in Go or stored
// before the default existed. The record TTL's default lives with the records it applies to
// (internal/records.DefaultTTL) and the index document's with the distribution
// (internal/cdn.DefaultRootObject), the key's with the keys (internal/certs.KeySpec.Normalized):
// the controller passes an unset field on, and those packages fill it in.
const (
	DefaultPriceClass = PriceClass100
	DefaultIssuer     = IssuerACME
)

// PriceClassOrDefault is the CloudFront price class the site asks for.
func (s *StaticSiteSpec) PriceClassOrDefault() PriceClass {
	if s.PriceClass == "" {
		return DefaultPriceClass
	}
	return s.PriceClass
}

// IssuerOrDefault is where the site's certificate comes from.
func (c *CertificateSpec) IssuerOrDefault() IssuerType {
	if c.Issuer == "" {
		return DefaultIssuer
	}
	return c.Issuer
}
