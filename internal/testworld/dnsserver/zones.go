package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

// errNotOurs means no hosted zone contains the name: an authoritative-only server refuses it.
var errNotOurs = errors.New("name is in no hosted zone")

// zoneReader reads hosted zones from Route53. A zone read is shared by the queries of the next
// maxAge (and by concurrent queries), because a zone of thousands of records takes kumo long
// enough that pebble's lookups time out under a benchmark's load. It stays correct for DNS-01: a
// resolver that saw a record saw it in a read made after the write, and any later query within
// maxAge gets that read or a newer one.
type zoneReader struct {
	r53    *route53.Client
	maxAge time.Duration

	mu     sync.Mutex
	cached map[string]cachedZone // by queried name's zone apex → last read
	flight singleflight.Group
}

type cachedZone struct {
	z  *zone
	at time.Time
}

// zoneFor returns the zone for name, from a read at most maxAge old.
func (r *zoneReader) zoneFor(ctx context.Context, name string) (*zone, error) {
	if r.maxAge > 0 {
		r.mu.Lock()
		for apex, c := range r.cached {
			if dns.IsSubDomain(apex, name) && time.Since(c.at) < r.maxAge && r.noLongerMatch(apex, name) {
				r.mu.Unlock()
				return c.z, nil
			}
		}
		r.mu.Unlock()
	}
	v, err, _ := r.flight.Do(name, func() (any, error) {
		started := time.Now()
		z, err := r.readZoneFor(ctx, name)
		if err == nil && r.maxAge > 0 {
			r.mu.Lock()
			if r.cached == nil {
				r.cached = map[string]cachedZone{}
			}
			// Keyed by when the read started: a slow read that began before a newer one must not
			// replace it, or a resolver could see a value and then lose it.
			if c, ok := r.cached[z.name]; !ok || started.After(c.at) {
				r.cached[z.name] = cachedZone{z: z, at: started}
			}
			r.mu.Unlock()
		}
		return z, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*zone), nil
}

// noLongerMatch is true when no other cached zone is a longer (more specific) match for name.
// A more specific zone that is not cached yet is missed until the parent's read ages out: fine
// for the benchmarks that opt in (one zone each). Called with r.mu held.
func (r *zoneReader) noLongerMatch(apex, name string) bool {
	for other := range r.cached {
		if len(other) > len(apex) && dns.IsSubDomain(other, name) {
			return false
		}
	}
	return true
}

// zone is a snapshot of one hosted zone's records, keyed by normalised name.
type zone struct {
	name   string
	byName map[string]*rrsets
	// exists holds every owner name and every empty non-terminal between it and the apex
	// (RFC 4592 2.2.2): such names answer NOERROR, not NXDOMAIN.
	exists map[string]bool
}

type rrsets struct {
	rrs   map[uint16][]dns.RR
	alias map[uint16]string
}

// readZoneFor reads the hosted zone with the longest name that contains name. When several hosted
// zones have that name (Route53 allows it; only the delegated one answers on the Internet) their
// records are merged, which is what a test that created duplicate zones by accident would expect.
func (r *zoneReader) readZoneFor(ctx context.Context, name string) (*zone, error) {
	var best string
	var ids []string
	pages := route53.NewListHostedZonesPaginator(r.r53, &route53.ListHostedZonesInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing hosted zones: %w", err)
		}
		for _, hz := range page.HostedZones {
			zn := normalizeName(aws.ToString(hz.Name))
			if !dns.IsSubDomain(zn, name) || len(zn) < len(best) {
				continue
			}
			if zn != best {
				best, ids = zn, nil
			}
			ids = append(ids, aws.ToString(hz.Id))
		}
	}
	if best == "" {
		return nil, errNotOurs
	}
	z := &zone{name: best, byName: map[string]*rrsets{}, exists: map[string]bool{best: true}}
	for _, id := range ids {
		if err := r.readRecords(ctx, id, z); err != nil {
			return nil, err
		}
	}
	return z, nil
}

func (r *zoneReader) readRecords(ctx context.Context, zoneID string, z *zone) error {
	in := &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)}
	for {
		out, err := r.r53.ListResourceRecordSets(ctx, in)
		if err != nil {
			return fmt.Errorf("listing records of %s: %w", zoneID, err)
		}
		for _, set := range out.ResourceRecordSets {
			z.add(set)
		}
		if !out.IsTruncated {
			return nil
		}
		in.StartRecordName, in.StartRecordType = out.NextRecordName, out.NextRecordType
		in.StartRecordIdentifier = out.NextRecordIdentifier
	}
}

func (z *zone) add(set r53types.ResourceRecordSet) {
	name := normalizeName(aws.ToString(set.Name))
	if !dns.IsSubDomain(z.name, name) {
		return
	}
	rrtype, ok := dns.StringToType[string(set.Type)]
	if !ok {
		return
	}
	sets := z.byName[name]
	if sets == nil {
		sets = &rrsets{rrs: map[uint16][]dns.RR{}, alias: map[uint16]string{}}
		z.byName[name] = sets
		for n := name; n != z.name && n != "."; n = parent(n) {
			z.exists[n] = true
		}
	}
	if set.AliasTarget != nil {
		sets.alias[rrtype] = dns.Fqdn(aws.ToString(set.AliasTarget.DNSName))
		return
	}
	ttl := aws.ToInt64(set.TTL)
	for _, v := range set.ResourceRecords {
		if rr := parseRR(rrtype, uint32(ttl), aws.ToString(v.Value)); rr != nil {
			sets.rrs[rrtype] = append(sets.rrs[rrtype], rr)
		}
	}
}

// parseRR reads a Route53 value, which is the RDATA in zone-file presentation format (TXT values
// quoted, names fully qualified). A value that does not parse is dropped: a test that writes
// garbage sees no answer, as from a resolver that rejects it.
func parseRR(rrtype uint16, ttl uint32, value string) dns.RR {
	rr, err := dns.NewRR(fmt.Sprintf("owner.invalid. %d IN %s %s", ttl, dns.TypeToString[rrtype], value))
	if err == nil && rr != nil {
		return rr
	}
	if rrtype == dns.TypeTXT {
		// Route53 rejects unquoted TXT values with odd quoting; kumo stores them anyway, so keep the
		// raw text rather than lose the record.
		return &dns.TXT{Hdr: dns.RR_Header{Name: "owner.invalid.", Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}, Txt: []string{value}}
	}
	return nil
}

// lookup returns the record sets at name and whether the name exists, synthesising from a
// wildcard (RFC 4592) when it does not.
func (z *zone) lookup(name string) (*rrsets, bool) {
	if sets, ok := z.byName[name]; ok {
		return z.withApex(name, sets), true
	}
	if z.exists[name] {
		return z.withApex(name, &rrsets{}), true
	}
	for p := parent(name); dns.IsSubDomain(z.name, p); p = parent(p) {
		if z.exists[p] {
			if sets, ok := z.byName["*."+p]; ok {
				return sets, true
			}
			return nil, false
		}
		if p == "." {
			break
		}
	}
	return nil, false
}

// withApex adds the SOA and NS records every real zone has at its apex; kumo creates zones without
// them (AWS creates both), and lego finds the zone of a challenge by walking up to the SOA.
func (z *zone) withApex(name string, sets *rrsets) *rrsets {
	if name != z.name {
		return sets
	}
	c := &rrsets{rrs: map[uint16][]dns.RR{}, alias: sets.alias}
	for t, rrs := range sets.rrs {
		c.rrs[t] = rrs
	}
	if len(c.rrs[dns.TypeSOA]) == 0 {
		c.rrs[dns.TypeSOA] = []dns.RR{z.syntheticSOA()}
	}
	if len(c.rrs[dns.TypeNS]) == 0 {
		c.rrs[dns.TypeNS] = []dns.RR{&dns.NS{Hdr: header(z.name, dns.TypeNS, 172800), Ns: "ns1.testworld.invalid."}}
	}
	return c
}

// soa is the zone's SOA for the authority section of negative answers (RFC 2308).
func (z *zone) soa() dns.RR {
	if sets, ok := z.byName[z.name]; ok && len(sets.rrs[dns.TypeSOA]) > 0 {
		return withOwner(sets.rrs[dns.TypeSOA][0], z.name)
	}
	return z.syntheticSOA()
}

func (z *zone) syntheticSOA() dns.RR {
	// Values as in a new Route53 zone; the 60 s minimum keeps negative caching short.
	return &dns.SOA{
		Hdr: header(z.name, dns.TypeSOA, 900), Ns: "ns1.testworld.invalid.", Mbox: "hostmaster.testworld.invalid.",
		Serial: 1, Refresh: 7200, Retry: 900, Expire: 1209600, Minttl: 60,
	}
}

func header(name string, rrtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

func (s *rrsets) records(t uint16) []dns.RR { return s.rrs[t] }

func (s *rrsets) first(t uint16) dns.RR {
	if len(s.rrs[t]) == 0 {
		return nil
	}
	return s.rrs[t][0]
}

func (s *rrsets) all() []dns.RR {
	var out []dns.RR
	for _, rrs := range s.rrs {
		out = append(out, rrs...)
	}
	return out
}

func (s *rrsets) aliasTarget(t uint16) (string, bool) {
	target, ok := s.alias[t]
	return target, ok
}

// normalizeName turns a name as stored by Route53 (or by kumo, which keeps it as sent: maybe
// without the trailing dot, in any case) into lower-case FQDN form. Route53 writes characters
// outside [a-z0-9-_.] as three-digit octal escapes, "\052" for "*" in wildcard names.
func normalizeName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == '\\' && i+3 < len(name) && isOctal(name[i+1:i+4]) {
			if n, err := strconv.ParseUint(name[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(name[i])
	}
	return dns.Fqdn(strings.ToLower(b.String()))
}

func isOctal(s string) bool {
	for _, c := range s {
		if c < '0' || c > '7' {
			return false
		}
	}
	return len(s) == 3
}

func parent(name string) string {
	i, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[i:]
}
