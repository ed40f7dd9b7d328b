package controllers

import (
	"context"
	"fmt"

	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/records"
)

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
		return naming.ChallengeOwner(naming.Owner(site.Namespace, site.Name))
	}
	return naming.ChallengeOwner("securesite")
}

func (c *challengeDNS) PresentTXT(ctx context.Context, fqdn, value string) error {
	zone, err := c.dns.FindZone(ctx, fqdn, "")
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
	zone, err := c.dns.FindZone(ctx, fqdn, "")
	if err != nil {
		return fmt.Errorf("finding the zone of %s: %w", fqdn, err)
	}
	_, err = c.dns.RemoveTXTValue(ctx, zone, challengeOwner(ctx), fqdn, value)
	return err
}
