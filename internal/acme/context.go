package acme

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
)

type siteKey struct{}

// WithSite records in ctx which SecureSite an order is for, so the ChallengeDNS can write the
// challenge records under that site's ownership.
func WithSite(ctx context.Context, site types.NamespacedName) context.Context {
	return context.WithValue(ctx, siteKey{}, site)
}

// SiteFromContext returns the site WithSite recorded.
func SiteFromContext(ctx context.Context) (types.NamespacedName, bool) {
	site, ok := ctx.Value(siteKey{}).(types.NamespacedName)
	return site, ok
}
