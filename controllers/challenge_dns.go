package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
		AddTXTValues(ctx context.Context, zone records.Zone, owner string, values []records.TXTValue) (records.EnsureResult, error)
		RemoveTXTValues(ctx context.Context, zone records.Zone, owner string, values []records.TXTValue) (records.EnsureResult, error)
		WaitInSync(ctx context.Context, changeID string) error
	}
	ownerID string
	// changes holds the Route53 change that wrote each challenge value ("fqdn|value" → change
	// ID) until the order's cleanup, so the propagation wait can follow the change itself.
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

// PresentTXT writes an order's challenge values, one change per zone (one in all, unless an
// additional name lives in another zone).
func (c *challengeDNS) PresentTXT(ctx context.Context, values []acme.TXTValue) error {
	byZone, err := c.byZone(ctx, values)
	if err != nil {
		return err
	}
	for _, z := range byZone {
		res, err := c.dns.AddTXTValues(ctx, z.zone, c.challengeOwner(ctx), z.values)
		if err != nil {
			return err
		}
		if len(res.Conflicts) > 0 {
			return fmt.Errorf("%s TXT is owned by %q; not written", res.Conflicts[0].Record.Name, res.Conflicts[0].Owner)
		}
		for _, v := range z.values {
			c.changes.Store(challengeKey(v.Name, v.Value), res.ChangeID)
		}
	}
	return nil
}

// zoneValues are the challenge values that go to one zone.
type zoneValues struct {
	zone   records.Zone
	values []records.TXTValue
}

func (c *challengeDNS) byZone(ctx context.Context, values []acme.TXTValue) ([]*zoneValues, error) {
	var out []*zoneValues
	for _, v := range values {
		zone, err := c.zoneFor(ctx, v.FQDN)
		if err != nil {
			return nil, fmt.Errorf("finding the zone of %s: %w", v.FQDN, err)
		}
		i := slices.IndexFunc(out, func(z *zoneValues) bool { return z.zone.ID == zone.ID })
		if i < 0 {
			out = append(out, &zoneValues{zone: zone})
			i = len(out) - 1
		}
		out[i].values = append(out[i].values, records.TXTValue{Name: v.FQDN, Value: v.Value})
	}
	return out, nil
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

// CleanupTXT removes an order's challenge values, one change per zone. The values' changes are
// forgotten first, whatever happens to the removal: the order is over, and a value left behind
// is removed later by the reconciler, not waited for.
func (c *challengeDNS) CleanupTXT(ctx context.Context, values []acme.TXTValue) error {
	for _, v := range values {
		c.changes.Delete(challengeKey(v.FQDN, v.Value))
	}
	byZone, err := c.byZone(ctx, values)
	if err != nil {
		return err
	}
	var errs []error
	for _, z := range byZone {
		if _, err := c.dns.RemoveTXTValues(ctx, z.zone, c.challengeOwner(ctx), z.values); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
