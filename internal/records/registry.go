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
func RegistryName(r Record) string {
	return registryPrefix + strings.ToLower(r.Type) + "." + normalizeName(r.Name)
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
	for _, a := range strings.Split(strings.Trim(strings.TrimSpace(txt), `"`), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(a), releasedAttribute); ok {
			if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
				return time.Unix(sec, 0)
			}
			// Unreadable: held as if released just now is not knowable; treat as live.
		}
	}
	return time.Time{}
}

// ParseOwner reads the owner from a registry TXT text (without quotes). ok is false when the
// text is not a SecureSite registry entry.
func ParseOwner(txt string) (owner string, ok bool) {
	txt = strings.TrimSpace(strings.Trim(strings.TrimSpace(txt), `"`))
	attrs := strings.Split(txt, ",")
	isOurs := false
	for _, a := range attrs {
		a = strings.TrimSpace(a)
		switch {
		case a == heritage:
			isOurs = true
		case strings.HasPrefix(a, ownerAttribute):
			owner = strings.TrimPrefix(a, ownerAttribute)
		}
	}
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
