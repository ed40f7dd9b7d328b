package records

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// relistAfterMiss is the least time between two zone lists caused by a lookup that found
// nothing, so that sites naming a zone that does not exist cannot list zones on every reconcile.
const relistAfterMiss = 10 * time.Second

type zoneCache struct {
	mu       sync.Mutex
	public   []Zone
	listedAt time.Time
	byID     map[string]cachedZone
	list     sync.Mutex // one ListHostedZones walk at a time
}

type cachedZone struct {
	zone Zone
	at   time.Time
}

// FindZone returns the hosted zone for domain: the zone named by zoneID when given (checked to
// contain domain), else the public zone whose name is the longest suffix of domain. Lookups are
// cached for ZoneListTTL; a miss lists the zones again (at most every few seconds), so a zone
// created after the cache was filled is found.
func (s *Service) FindZone(ctx context.Context, domain, zoneID string) (Zone, error) {
	domain = normalizeName(domain)
	if zoneID = strings.TrimPrefix(zoneID, "/hostedzone/"); zoneID != "" {
		z, err := s.zoneByID(ctx, zoneID)
		if err != nil {
			return Zone{}, err
		}
		if domain != "" && !InZone(domain, z.Name) {
			return Zone{}, fmt.Errorf("%w: %s is not inside hosted zone %s (%s)", ErrZoneNotFound, domain, z.ID, z.Name)
		}
		return z, nil
	}
	zones, listedAt, err := s.publicZones(ctx, time.Time{})
	if err != nil {
		return Zone{}, err
	}
	z, err := longestSuffixZone(zones, domain)
	if errors.Is(err, ErrZoneNotFound) && s.now().Sub(listedAt) >= relistAfterMiss {
		if zones, _, err = s.publicZones(ctx, s.now()); err != nil {
			return Zone{}, err
		}
		z, err = longestSuffixZone(zones, domain)
	}
	return z, err
}

func (s *Service) zoneByID(ctx context.Context, id string) (Zone, error) {
	c := &s.zoneCache
	c.mu.Lock()
	cached, ok := c.byID[id]
	c.mu.Unlock()
	if ok && s.now().Sub(cached.at) < s.opts.ZoneListTTL {
		return cached.zone, nil
	}
	out, err := s.client.GetHostedZone(ctx, &r53.GetHostedZoneInput{Id: aws.String(id)})
	var noZone *types.NoSuchHostedZone
	if errors.As(err, &noZone) {
		return Zone{}, fmt.Errorf("%w: %s", ErrZoneNotFound, id)
	}
	if err != nil {
		return Zone{}, fmt.Errorf("reading hosted zone %s: %w", id, err)
	}
	z := zoneFromSDK(*out.HostedZone)
	c.mu.Lock()
	if c.byID == nil {
		c.byID = map[string]cachedZone{}
	}
	c.byID[id] = cachedZone{zone: z, at: s.now()}
	c.mu.Unlock()
	return z, nil
}

// publicZones returns the cached public zones, listing them again when the cache is older than
// ZoneListTTL or than notBefore.
func (s *Service) publicZones(ctx context.Context, notBefore time.Time) ([]Zone, time.Time, error) {
	c := &s.zoneCache
	fresh := func() ([]Zone, time.Time, bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		ok := !c.listedAt.IsZero() && s.now().Sub(c.listedAt) < s.opts.ZoneListTTL && !c.listedAt.Before(notBefore)
		return c.public, c.listedAt, ok
	}
	if zones, at, ok := fresh(); ok {
		return zones, at, nil
	}
	c.list.Lock()
	defer c.list.Unlock()
	if zones, at, ok := fresh(); ok { // listed by someone else while we waited
		return zones, at, nil
	}
	at := s.now()
	var zones []Zone
	p := r53.NewListHostedZonesPaginator(s.client, &r53.ListHostedZonesInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("listing hosted zones: %w", err)
		}
		for _, hz := range out.HostedZones {
			// A private zone answers only inside its VPCs: records there are invisible to
			// browsers and to the ACME CA.
			if hz.Config != nil && hz.Config.PrivateZone {
				continue
			}
			zones = append(zones, zoneFromSDK(hz))
		}
	}
	c.mu.Lock()
	c.public, c.listedAt = zones, at
	c.mu.Unlock()
	return zones, at, nil
}

// longestSuffixZone picks the most specific zone holding domain: with both duckhoo.site and a
// delegated api.duckhoo.site, v1.api.duckhoo.site belongs to the latter.
func longestSuffixZone(zones []Zone, domain string) (Zone, error) {
	var best []Zone
	for _, z := range zones {
		if !InZone(domain, z.Name) {
			continue
		}
		switch {
		case len(best) == 0 || len(z.Name) > len(best[0].Name):
			best = []Zone{z}
		case len(z.Name) == len(best[0].Name):
			best = append(best, z)
		}
	}
	switch len(best) {
	case 0:
		return Zone{}, fmt.Errorf("%w: no public hosted zone holds %s", ErrZoneNotFound, domain)
	case 1:
		return best[0], nil
	}
	ids := make([]string, len(best))
	for i, z := range best {
		ids[i] = z.ID
	}
	slices.Sort(ids)
	return Zone{}, fmt.Errorf("%w %s: %s; name one with hostedZoneID", ErrZoneAmbiguous, domain, strings.Join(ids, ", "))
}

func zoneFromSDK(hz types.HostedZone) Zone {
	return Zone{ID: strings.TrimPrefix(aws.ToString(hz.Id), "/hostedzone/"), Name: normalizeName(aws.ToString(hz.Name)),
		Private: hz.Config != nil && hz.Config.PrivateZone}
}
