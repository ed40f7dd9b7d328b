package records

import (
	"math"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// rrKey identifies a record set in a zone: its normalized name and its type (simple routing
// only: one set per name and type). The type is one of the constant spellings (internType), so
// keys share it instead of holding a copy each.
type rrKey struct{ name, typ string }

func keyOf(r Record) rrKey { return rrKey{name: r.Name, typ: internType(r.Type)} }

// rrset is a record set as the snapshot and the desired index keep it: 32 bytes beside its key,
// so a zone of 20,000 record sets costs a few MB. The common record set (one value, no alias,
// listed as it renders) is held in full here; whatever else a record set needs (several values,
// an alias, a name or values spelled otherwise than rendering gives back, a TTL beyond int32)
// lives in extra, nil for the common one.
type rrset struct {
	ttl   int32
	flags rrFlags
	value string // the only value, unless valuesInExtra
	extra *rrExtra
}

type rrFlags uint8

const (
	// listedWithDot: the listing spelled the name as the normalized name plus the trailing dot
	// (what AWS returns), which a DELETE repeats.
	listedWithDot rrFlags = 1 << iota
	// valuesInExtra: the values are extra.values (none, as an alias has, or several).
	valuesInExtra
	// wideTTL: the TTL is extra.ttl.
	wideTTL
)

type rrExtra struct {
	values     []string
	alias      *AliasTarget
	ttl        int64
	listedName string
	raw        *types.ResourceRecordSet
}

// compact is the key and compact form of a normalized record; record turns them back.
func compact(r Record) (rrKey, rrset) {
	var s rrset
	var x rrExtra
	if r.TTL >= math.MinInt32 && r.TTL <= math.MaxInt32 {
		s.ttl = int32(r.TTL)
	} else {
		s.flags |= wideTTL
		x.ttl = r.TTL
	}
	if len(r.Values) == 1 && r.Alias == nil {
		s.value = r.Values[0]
	} else {
		s.flags |= valuesInExtra
		x.values = slices.Clip(r.Values)
	}
	switch n := r.listedName; {
	case n == "" || n == r.Name:
		// Renders from the name.
	case len(n) == len(r.Name)+1 && n[len(n)-1] == '.' && strings.HasPrefix(n, r.Name):
		s.flags |= listedWithDot
	default:
		x.listedName = n
	}
	x.alias, x.raw = r.Alias, r.raw
	if x.values != nil || x.alias != nil || x.ttl != 0 || x.listedName != "" || x.raw != nil {
		s.extra = &x
	}
	return keyOf(r), s
}

func record(k rrKey, s rrset) Record {
	r := Record{Name: k.name, Type: k.typ, TTL: s.TTL(), Values: s.values()}
	if s.flags&listedWithDot != 0 {
		r.listedName = k.name + "."
	}
	if s.extra != nil {
		r.Alias, r.raw = s.extra.alias, s.extra.raw
		if s.extra.listedName != "" {
			r.listedName = s.extra.listedName
		}
	}
	return r
}

// TTL is the record set's TTL (0 for an alias).
func (s rrset) TTL() int64 {
	if s.flags&wideTTL != 0 {
		return s.extra.ttl
	}
	return int64(s.ttl)
}

// values are the record set's values, sorted; callers must not change them.
func (s rrset) values() []string {
	if s.flags&valuesInExtra != 0 {
		return s.extra.values
	}
	return []string{s.value}
}

// eachValue calls fn with each value until it returns true.
func (s rrset) eachValue(fn func(v string) bool) {
	if s.flags&valuesInExtra == 0 {
		fn(s.value)
		return
	}
	for _, v := range s.extra.values {
		if fn(v) {
			return
		}
	}
}

func (s rrset) alias() *AliasTarget {
	if s.extra == nil {
		return nil
	}
	return s.extra.alias
}

// same reports whether the record set would answer DNS queries as the normalized record d does
// (d has the same key).
func (s rrset) same(d Record) bool {
	a := s.alias()
	if (a == nil) != (d.Alias == nil) {
		return false
	}
	if a != nil {
		return *a == *d.Alias
	}
	if s.TTL() != d.TTL {
		return false
	}
	if s.flags&valuesInExtra != 0 {
		return slices.Equal(s.extra.values, d.Values)
	}
	return len(d.Values) == 1 && d.Values[0] == s.value
}

var knownTypes = types.RRType("").Values()

// internType gives the constant spelling of a record type, so the type of every record set in a
// zone is one shared string rather than a small allocation each.
func internType(t string) string {
	for _, known := range knownTypes {
		if string(known) == t {
			return string(known)
		}
	}
	return t
}
