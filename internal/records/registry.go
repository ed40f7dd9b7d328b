package records

import (
	"strconv"
	"strings"
	"time"
)

// The ownership registry follows external-dns: next to each record set SecureSite owns there is
// a TXT record naming the owner. Route53 has no per-record tags, so ownership must live in the
// zone itself, where every controller replica (and a human reading the console) can see it.
const (
	registryPrefix = "_securesite-"
	heritage       = "heritage=securesite"
	ownerAttribute = "owner="
	// releasedAttribute marks a registry record whose records were deleted: the name stays
	// claimed by its last owner until the hold runs out (Unix seconds of the release).
	releasedAttribute = "released="
	registryTTL       = DefaultTTL
	registryRecType   = "TXT"
)

// RegistryName is the name of the TXT record that records who owns r: one registry record per
// name and type, because a CNAME name cannot carry a TXT record, so the registry cannot sit at
// the record's own name (e.g. "_securesite-cname.infra.duckhoo.site").
func RegistryName(r Record) string { return registryName(r.Name, r.Type) }

func registryName(name, typ string) string {
	return registryPrefix + lowerType(typ) + "." + normalizeName(name)
}

// lowerType is a record type as a registry name spells it, without an allocation for the types
// SecureSite writes (claims are looked up for every desired record at every drift check).
func lowerType(typ string) string {
	switch typ {
	case "A":
		return "a"
	case "AAAA":
		return "aaaa"
	case "CNAME":
		return "cname"
	case "TXT":
		return "txt"
	}
	return strings.ToLower(typ)
}

// registryValue is the TXT text that marks owner as the owner.
func registryValue(owner string) string {
	return heritage + "," + ownerAttribute + owner
}

// registryRecord is the registry TXT record for r owned by owner.
func registryRecord(r Record, owner string) Record {
	return Record{Name: RegistryName(r), Type: registryRecType, TTL: registryTTL, Values: []string{registryValue(owner)}}
}

// releasedRecord is the registry record that keeps r's name held for owner after its records
// were deleted at the given time.
func releasedRecord(r Record, owner string, at time.Time) Record {
	return Record{Name: RegistryName(r), Type: registryRecType, TTL: registryTTL,
		Values: []string{registryValue(owner) + "," + releasedAttribute + strconv.FormatInt(at.Unix(), 10)}}
}

// parseReleased reads the release time of a registry text; zero when it is a live claim.
func parseReleased(txt string) time.Time {
	var at time.Time
	eachAttribute(txt, func(a string) bool {
		v, ok := strings.CutPrefix(a, releasedAttribute)
		if !ok {
			return false
		}
		// Unreadable: held as if released just now is not knowable; treat as live.
		if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
			at = time.Unix(sec, 0)
			return true
		}
		return false
	})
	return at
}

// eachAttribute calls fn with each comma-separated attribute of a registry text (without quotes
// and surrounding spaces) until it returns true.
func eachAttribute(txt string, fn func(attr string) bool) {
	rest := strings.Trim(strings.TrimSpace(txt), `"`)
	for more := true; more; {
		var a string
		a, rest, more = strings.Cut(rest, ",")
		if fn(strings.TrimSpace(a)) {
			return
		}
	}
}

// ParseOwner reads the owner from a registry TXT text (without quotes). ok is false when the
// text is not a SecureSite registry entry.
func ParseOwner(txt string) (owner string, ok bool) {
	isOurs := false
	eachAttribute(txt, func(a string) bool {
		switch {
		case a == heritage:
			isOurs = true
		case strings.HasPrefix(a, ownerAttribute):
			owner = strings.TrimPrefix(a, ownerAttribute)
		}
		return false
	})
	if !isOurs || owner == "" {
		return "", false
	}
	return owner, true
}

// parseRegistryName splits a registry record name into the type and name it speaks for.
func parseRegistryName(name string) (recordType, recordName string, ok bool) {
	if !strings.HasPrefix(name, registryPrefix) {
		return "", "", false
	}
	typ, rest, found := strings.Cut(strings.TrimPrefix(name, registryPrefix), ".")
	if !found || typ == "" || rest == "" {
		return "", "", false
	}
	return strings.ToUpper(typ), rest, true
}

// isRegistry reports whether r is an ownership registry record.
func isRegistry(r Record) bool {
	_, _, ok := parseRegistryName(r.Name)
	return ok && r.Type == registryRecType
}
