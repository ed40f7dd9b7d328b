package controllers

import (
	"context"
	"fmt"

	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/records"
)

// challengeOwnerSuffix keeps DNS-01 records apart from a site's own records: the DNS phase makes
// the zone match exactly what owner "<ns>/<name>" wants, and must not delete a challenge in flight.
const challengeOwnerSuffix = "/acme"

// challengeDNS writes DNS-01 TXT records through the Route53 layer, so challenges get the same
// ownership registry and cross-site batching as every other record: many certificates ordered
// together share a few ChangeResourceRecordSets calls.
type challengeDNS struct {
	dns interface {
		FindZone(ctx context.Context, domain, zoneID string) (records.Zone, error)
		AddTXTValue(ctx context.Context, zone records.Zone, owner, name, value string) (records.EnsureResult, error)
		RemoveTXTValue(ctx context.Context, zone records.Zone, owner, name, value string) (records.EnsureResult, error)
	}
	ownerID string
}

// NewChallengeDNS adapts the Route53 layer to the ACME pool; ownerID is the controller's
// --owner-id, part of every ownership record it writes.
func NewChallengeDNS(dns *records.Service, ownerID string) acme.ChallengeDNS {
	return &challengeDNS{dns: dns, ownerID: ownerID}
}

func (c *challengeDNS) challengeOwner(ctx context.Context) string {
	if site, ok := acme.SiteFromContext(ctx); ok {
		return naming.Owner(c.ownerID, site.Namespace, site.Name) + challengeOwnerSuffix
	}
	return naming.Owner(c.ownerID, "", "securesite") + challengeOwnerSuffix
}

func (c *challengeDNS) PresentTXT(ctx context.Context, fqdn, value string) error {
	zone, err := c.dns.FindZone(ctx, fqdn, "")
	if err != nil {
		return fmt.Errorf("finding the zone of %s: %w", fqdn, err)
	}
	res, err := c.dns.AddTXTValue(ctx, zone, c.challengeOwner(ctx), fqdn, value)
	if err != nil {
		return err
	}
	if len(res.Conflicts) > 0 {
		return fmt.Errorf("%s TXT is owned by %q; not written", fqdn, res.Conflicts[0].Owner)
	}
	return nil
}

func (c *challengeDNS) CleanupTXT(ctx context.Context, fqdn, value string) error {
	zone, err := c.dns.FindZone(ctx, fqdn, "")
	if err != nil {
		return fmt.Errorf("finding the zone of %s: %w", fqdn, err)
	}
	_, err = c.dns.RemoveTXTValue(ctx, zone, c.challengeOwner(ctx), fqdn, value)
	return err
}
