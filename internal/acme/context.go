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

type zoneKey struct{}

// WithHostedZone records in ctx the hosted zone of the site an order is for.
func WithHostedZone(ctx context.Context, zoneID string) context.Context {
	return context.WithValue(ctx, zoneKey{}, zoneID)
}

// HostedZoneFromContext returns the zone WithHostedZone recorded ("" when none).
func HostedZoneFromContext(ctx context.Context) string {
	id, _ := ctx.Value(zoneKey{}).(string)
	return id
}

// SiteFromContext returns the site WithSite recorded.
func SiteFromContext(ctx context.Context) (types.NamespacedName, bool) {
	site, ok := ctx.Value(siteKey{}).(types.NamespacedName)
	return site, ok
}
