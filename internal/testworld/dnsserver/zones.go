package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"
)

// errNotOurs means no hosted zone contains the name: an authoritative-only server refuses it.
var errNotOurs = errors.New("name is in no hosted zone")

// zoneReader reads hosted zones from Route53. With maxAge > 0, concurrent and later queries share
// reads: a query is answered from the newest read (of the hosted-zone list, then of the zone's
// records) if that read started at most maxAge ago, waiting for it while it runs; only otherwise
// does it start a read of its own. Under a benchmark's load (hundreds of DNS-01 lookups at once
// against a zone of thousands of records) a read per query piles up on the emulator and the CPU
// until answers come after pebble has given up (its DNS client times out after 2 s and does not
// retry). It stays correct for DNS-01: reads are handed out newest-started first, so a resolver
// asking after another saw a record gets that read or a newer one, and a record written more
// than maxAge before a query is in its answer.
type zoneReader struct {
	r53    *route53.Client
	maxAge time.Duration

	mu     sync.Mutex
	newest map[string]*sharedRead // by what is read: the hosted-zone list, or one zone's records
	reads  atomic.Int64           // zone record reads made (tests)
}

// sharedRead is one read of Route53 that several queries may wait for.
type sharedRead struct {
	started time.Time
	done    chan struct{}
	val     any
	err     error
}

// readTimeout bounds one shared read; it does not end with the query that started it.
const readTimeout = 10 * time.Second

// shared returns the result of the newest read of key that started at most maxAge ago (waiting
// for it if it is still running), else of a read it starts. A failed read is not shared.
func (r *zoneReader) shared(ctx context.Context, key string, read func(context.Context) (any, error)) (any, error) {
	if r.maxAge <= 0 {
		return read(ctx)
	}
	now := time.Now()
	r.mu.Lock()
	sr := r.newest[key]
	if sr == nil || now.Sub(sr.started) > r.maxAge {
		sr = &sharedRead{started: now, done: make(chan struct{})}
		if r.newest == nil {
			r.newest = map[string]*sharedRead{}
		}
		r.newest[key] = sr
		go r.run(key, sr, read)
	}
	r.mu.Unlock()
	select {
	case <-sr.done:
		return sr.val, sr.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *zoneReader) run(key string, sr *sharedRead, read func(context.Context) (any, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	sr.val, sr.err = read(ctx)
	if sr.err != nil {
		r.mu.Lock()
		if r.newest[key] == sr {
			delete(r.newest, key)
		}
		r.mu.Unlock()
	}
	close(sr.done)
}

// hostedZone is one entry of ListHostedZones.
type hostedZone struct{ name, id string }

// zoneFor returns the hosted zone with the longest name that contains name. When several hosted
// zones have that name (Route53 allows it; only the delegated one answers on the Internet) their
// records are merged, which is what a test that created duplicate zones by accident would expect.
func (r *zoneReader) zoneFor(ctx context.Context, name string) (*zone, error) {
	v, err := r.shared(ctx, "hosted zones", r.listHostedZones)
	if err != nil {
		return nil, err
	}
	var best string
	var ids []string
	for _, hz := range v.([]hostedZone) {
		if !dns.IsSubDomain(hz.name, name) || len(hz.name) < len(best) {
			continue
		}
		if hz.name != best {
			best, ids = hz.name, nil
		}
		ids = append(ids, hz.id)
	}
	if best == "" {
		return nil, errNotOurs
	}
	v, err = r.shared(ctx, "zone "+best+" "+strings.Join(ids, ","), func(ctx context.Context) (any, error) {
		z := &zone{name: best, byName: map[string]*rrsets{}, exists: map[string]bool{best: true}}
		for _, id := range ids {
			if err := r.readRecords(ctx, id, z); err != nil {
				return nil, err
			}
		}
		return z, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*zone), nil
}

func (r *zoneReader) listHostedZones(ctx context.Context) (any, error) {
	var out []hostedZone
	pages := route53.NewListHostedZonesPaginator(r.r53, &route53.ListHostedZonesInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing hosted zones: %w", err)
		}
		for _, hz := range page.HostedZones {
			out = append(out, hostedZone{name: normalizeName(aws.ToString(hz.Name)), id: aws.ToString(hz.Id)})
		}
	}
	return out, nil
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

func (r *zoneReader) readRecords(ctx context.Context, zoneID string, z *zone) error {
	r.reads.Add(1)
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
