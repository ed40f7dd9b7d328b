package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

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
		WaitInSync(ctx context.Context, changeID string) error
	}
	ownerID string
	// changes holds the Route53 change that wrote each challenge value ("fqdn|value" → change
	// ID) until the value is removed, so the propagation wait can follow the change itself.
	changes sync.Map
}

// NewChallengeDNS adapts the Route53 layer to the ACME pool; ownerID is the controller's
// --owner-id, part of every ownership record it writes.
func NewChallengeDNS(dns *records.Service, ownerID string) acme.ChallengeDNS {
	return &challengeDNS{dns: dns, ownerID: ownerID}
}

func (c *challengeDNS) challengeOwner(ctx context.Context) string {
	if site, ok := acme.SiteFromContext(ctx); ok {
		return naming.ChallengeOwner(naming.Owner(c.ownerID, site.Namespace, site.Name))
	}
	return naming.ChallengeOwner(naming.Owner(c.ownerID, "", "securesite"))
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
	res, err := c.dns.AddTXTValue(ctx, zone, c.challengeOwner(ctx), fqdn, value)
	if err != nil {
		return err
	}
	if len(res.Conflicts) > 0 {
		return fmt.Errorf("%s TXT is owned by %q; not written", fqdn, res.Conflicts[0].Owner)
	}
	c.changes.Store(challengeKey(fqdn, value), res.ChangeID)
	return nil
}

func challengeKey(fqdn, value string) string {
	return strings.ToLower(strings.TrimSuffix(fqdn, ".")) + "|" + value
}

// WaitPropagated returns once Route53 reports the change that wrote the value INSYNC: the value
// is then on every Route53 name server. A value written before a restart (no change known) or
// found already present needs no wait.
func (c *challengeDNS) WaitPropagated(ctx context.Context, fqdn, value string) error {
	id, ok := c.changes.Load(challengeKey(fqdn, value))
	if !ok || id.(string) == "" {
		return nil
	}
	return c.dns.WaitInSync(ctx, id.(string))
}

func (c *challengeDNS) CleanupTXT(ctx context.Context, fqdn, value string) error {
	zone, err := c.zoneFor(ctx, fqdn)
	if err != nil {
		return fmt.Errorf("finding the zone of %s: %w", fqdn, err)
	}
	c.changes.Delete(challengeKey(fqdn, value))
	_, err = c.dns.RemoveTXTValue(ctx, zone, c.challengeOwner(ctx), fqdn, value)
	return err
}
