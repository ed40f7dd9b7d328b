package records

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// DefaultTTL is used when a desired record names no TTL (the CRD's default for backend.ttl; a
// test checks they agree).
const DefaultTTL int64 = 300

// maxTXTString is the DNS limit on one character-string inside a TXT record (RFC 1035 §3.3);
// Route53 rejects longer quoted strings, so longer values are split into several strings.
const maxTXTString = 255

// Zone is a Route53 hosted zone.
type Zone struct {
	ID   string // without the "/hostedzone/" prefix
	Name string // lowercase, no trailing dot
	// Private: a private hosted zone (only found by ID; the public lookup skips them).
	Private bool
}

// AliasTarget points an alias record at an AWS resource (CloudFront, ELB, ...).
type AliasTarget struct {
	HostedZoneID         string
	DNSName              string
	EvaluateTargetHealth bool
}

// Record is a desired or observed record set.
type Record struct {
	Name   string   // lowercase, no trailing dot
	Type   string   // A, AAAA, CNAME, TXT
	TTL    int64    // 0 for alias records
	Values []string // TXT values without surrounding quotes; sorted for comparison
	Alias  *AliasTarget

	// AWS only deletes a record set when the DELETE repeats it as stored, so a listed record
	// keeps what a re-rendering would not give back: listedName is the name as Route53 returned
	// it, and raw the whole record set, kept only when rendering the fields above would differ
	// (values in another order or spelling, an alias, a routing policy). The common A or TXT
	// record keeps no copy: at 20,000 record sets in a zone the copies were ~6 MB of the heap.
	listedName string
	raw        *types.ResourceRecordSet
}

// key identifies a record set in a zone (simple routing only: one set per name and type).
func (r Record) key() string { return r.Name + "|" + r.Type }

// String renders the record for messages and events.
func (r Record) String() string {
	if r.Alias != nil {
		return r.Name + " " + r.Type + " ALIAS " + r.Alias.DNSName
	}
	return r.Name + " " + r.Type + " " + strings.Join(r.Values, ",")
}

// DesiredBackendRecord is the record that points hostname at a backend address: an IPv4
// address gives A, an IPv6 address AAAA, anything else is taken as a DNS name and gives CNAME.
func DesiredBackendRecord(hostname, address string, ttl int64) Record {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	r := Record{Name: normalizeName(hostname), TTL: ttl}
	if ip, err := netip.ParseAddr(strings.TrimSpace(address)); err == nil {
		ip = ip.Unmap()
		r.Type = "AAAA"
		if ip.Is4() {
			r.Type = "A"
		}
		r.Values = []string{ip.String()}
		return r
	}
	r.Type = "CNAME"
	r.Values = []string{normalizeName(address)}
	return r
}

// normalizeRecord makes a desired or observed record comparable: lowercase names, canonical
// addresses, sorted values.
func normalizeRecord(r Record) Record {
	r.Name = normalizeName(r.Name)
	r.Type = strings.ToUpper(r.Type)
	vals := make([]string, 0, len(r.Values))
	for _, v := range r.Values {
		switch r.Type {
		case "A", "AAAA":
			if ip, err := netip.ParseAddr(v); err == nil {
				v = canonicalIP(v, ip)
			}
		case "CNAME":
			v = normalizeName(v)
		}
		vals = append(vals, v)
	}
	slices.Sort(vals)
	r.Values = vals
	if r.Alias != nil {
		a := *r.Alias
		a.DNSName = normalizeName(a.DNSName)
		a.HostedZoneID = strings.TrimPrefix(a.HostedZoneID, "/hostedzone/")
		r.Alias = &a
		r.TTL = 0
	}
	return r
}

// canonicalIP is ip's canonical spelling, v itself when v is spelled so (as listed addresses
// are): no new string per record set in every listing.
func canonicalIP(v string, ip netip.Addr) string {
	var buf [64]byte
	if b := ip.Unmap().AppendTo(buf[:0]); string(b) != v {
		return string(b)
	}
	return v
}

// normalizeName lowercases a DNS name, drops the trailing dot and decodes the octal escapes
// Route53 uses in listings (a wildcard comes back as "\052").
func normalizeName(n string) string {
	n = strings.TrimSuffix(strings.TrimSpace(n), ".")
	if strings.Contains(n, `\`) {
		n = decodeOctalEscapes(n)
	}
	return strings.ToLower(n)
}

func decodeOctalEscapes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			n, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			b.WriteByte(byte(n))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

// QuoteTXT renders a TXT value the way Route53 wants it in a ResourceRecord: one or more
// double-quoted character-strings of at most 255 bytes each, with quotes and backslashes escaped.
func QuoteTXT(v string) string {
	if v == "" {
		return `""`
	}
	var parts []string
	for len(v) > 0 {
		n := min(len(v), maxTXTString)
		parts = append(parts, `"`+escapeTXT(v[:n])+`"`)
		v = v[n:]
	}
	return strings.Join(parts, " ")
}

// txtEscaper is built once: a Replacer builds a 256-entry table per instance (about 6 KB), which
// once made every quoted TXT value, and so every drift check, allocate that much per record.
var txtEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func escapeTXT(s string) string {
	return txtEscaper.Replace(s)
}

// UnquoteTXT turns a TXT ResourceRecord value back into its text: the character-strings are
// concatenated (as SPF and DKIM readers do), escapes are decoded, and an unquoted value (which
// some tools write and Route53 stores as sent) is taken as it is.
func UnquoteTXT(v string) string {
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, `"`) {
		return v
	}
	if len(v) > 1 && v[len(v)-1] == '"' && !strings.ContainsAny(v[1:len(v)-1], `"\`) {
		return v[1 : len(v)-1] // one plain string, the common case: no copy
	}
	var b strings.Builder
	inQuote := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			inQuote = !inQuote
		case c == '\\' && i+1 < len(v):
			if i+3 < len(v) && isOctal(v[i+1:i+4]) {
				n, _ := strconv.ParseUint(v[i+1:i+4], 8, 8)
				b.WriteByte(byte(n))
				i += 3
			} else {
				b.WriteByte(v[i+1])
				i++
			}
		case inQuote:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// recordFromSDK converts a listed record set into the comparable form, keeping what a DELETE
// needs to repeat it exactly.
func recordFromSDK(rs types.ResourceRecordSet) Record {
	r := Record{Name: aws.ToString(rs.Name), Type: string(rs.Type), TTL: aws.ToInt64(rs.TTL)}
	for _, rr := range rs.ResourceRecords {
		v := aws.ToString(rr.Value)
		if r.Type == "TXT" {
			v = UnquoteTXT(v)
		}
		r.Values = append(r.Values, v)
	}
	if rs.AliasTarget != nil {
		r.Alias = &AliasTarget{
			HostedZoneID:         aws.ToString(rs.AliasTarget.HostedZoneId),
			DNSName:              aws.ToString(rs.AliasTarget.DNSName),
			EvaluateTargetHealth: rs.AliasTarget.EvaluateTargetHealth,
		}
	}
	r = normalizeRecord(r)
	r.listedName = aws.ToString(rs.Name)
	if !rendersAs(r, rs) {
		raw := rs
		r.raw = &raw
	}
	return r
}

// rendersAs reports whether recordToSDK(r) gives back rs exactly: same name, TTL and values in
// the same order and spelling, no alias and no routing policy.
func rendersAs(r Record, rs types.ResourceRecordSet) bool {
	if rs.AliasTarget != nil || rs.SetIdentifier != nil || rs.Weight != nil || rs.Region != "" ||
		rs.Failover != "" || rs.GeoLocation != nil || rs.GeoProximityLocation != nil ||
		rs.MultiValueAnswer != nil || rs.HealthCheckId != nil || rs.CidrRoutingConfig != nil ||
		rs.TrafficPolicyInstanceId != nil || rs.TTL == nil {
		return false
	}
	out := recordToSDK(r)
	if aws.ToString(out.Name) != aws.ToString(rs.Name) || out.Type != rs.Type || aws.ToInt64(out.TTL) != aws.ToInt64(rs.TTL) ||
		len(out.ResourceRecords) != len(rs.ResourceRecords) {
		return false
	}
	for i, rr := range rs.ResourceRecords {
		if rr.Value == nil || aws.ToString(out.ResourceRecords[i].Value) != *rr.Value {
			return false
		}
	}
	return true
}

// recordToSDK renders a record for a CREATE or UPSERT; for a DELETE of an observed record it
// gives back the record set as stored.
func recordToSDK(r Record) types.ResourceRecordSet {
	if r.raw != nil {
		return *r.raw
	}
	name := r.Name
	if r.listedName != "" {
		name = r.listedName
	}
	rs := types.ResourceRecordSet{Name: aws.String(name), Type: types.RRType(r.Type)}
	if r.Alias != nil {
		rs.AliasTarget = &types.AliasTarget{
			HostedZoneId:         aws.String(r.Alias.HostedZoneID),
			DNSName:              aws.String(r.Alias.DNSName),
			EvaluateTargetHealth: r.Alias.EvaluateTargetHealth,
		}
		return rs
	}
	rs.TTL = aws.Int64(r.TTL)
	for _, v := range r.Values {
		if r.Type == "TXT" {
			v = QuoteTXT(v)
		}
		rs.ResourceRecords = append(rs.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
	}
	return rs
}

// InZone reports whether name is the zone apex or below it.
func InZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}
