package controllers

import (
	"context"
	"errors"
	"fmt"

	"github.com/securesite-io/securesite/internal/acme"
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
}

// NewChallengeDNS adapts the Route53 layer to the ACME pool.
func NewChallengeDNS(dns *records.Service) acme.ChallengeDNS { return &challengeDNS{dns: dns} }

func challengeOwner(ctx context.Context) string {
	if site, ok := acme.SiteFromContext(ctx); ok {
		return site.Namespace + "/" + site.Name + challengeOwnerSuffix
	}
	return "securesite" + challengeOwnerSuffix
}

// zoneFor is the zone a challenge record goes to: the site's own zone (spec.hostedZoneID, or
// the one its DNS phase found) when the name is inside it, else the zone found by name. By name
// alone, two public zones of the same name are ambiguous and the challenge was never written.
func (c *challengeDNS) zoneFor(ctx context.Context, fqdn string) (records.Zone, error) {
	if id := acme.HostedZoneFromContext(ctx); id != "" {
		z, err := c.dns.FindZone(ctx, fqdn, id)
		if !errors.Is(err, records.ErrZoneNotFound) {
			return z, err
		}
		// A name outside the site's zone (an additional name in another zone).
	}
	return c.dns.FindZone(ctx, fqdn, "")
}

func (c *challengeDNS) PresentTXT(ctx context.Context, fqdn, value string) error {
	zone, err := c.zoneFor(ctx, fqdn)
	if err != nil {
		return fmt.Errorf("finding the zone of %s: %w", fqdn, err)
	}
	res, err := c.dns.AddTXTValue(ctx, zone, challengeOwner(ctx), fqdn, value)
	if err != nil {
		return err
	}
	if len(res.Conflicts) > 0 {
		return fmt.Errorf("%s TXT is owned by %q; not written", fqdn, res.Conflicts[0].Owner)
	}
	return nil
}

func (c *challengeDNS) CleanupTXT(ctx context.Context, fqdn, value string) error {
	zone, err := c.zoneFor(ctx, fqdn)
	if err != nil {
		return fmt.Errorf("finding the zone of %s: %w", fqdn, err)
	}
	_, err = c.dns.RemoveTXTValue(ctx, zone, challengeOwner(ctx), fqdn, value)
	return err
}
