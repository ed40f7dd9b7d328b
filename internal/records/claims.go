package records

import "time"

// claim is what the registry says about one name and type.
type claim struct {
	owner      string // "" with registered: a TXT record at our registry name that is not ours
	registered bool
	released   time.Time // non-zero: the records were deleted then, and the name is held
}

func (s *Snapshot) claimOf(name, typ string) claim {
	reg, ok := s.lookup(rrKey{name: registryName(name, typ), typ: registryRecType})
	if !ok {
		return claim{}
	}
	// A TXT record at our registry name that is not ours: someone else's, treat as foreign.
	c := claim{registered: true}
	reg.eachValue(func(v string) bool {
		o, ok := ParseOwner(v)
		if ok {
			c = claim{owner: o, registered: true, released: parseReleased(v)}
		}
		return ok
	})
	return c
}

// Hold keeps a released name claimed by its last owner for a while, so that the traffic of a
// deleted site cannot be captured by another site in the gap (its clients and caches still
// resolve the old answers). Only address records are held (A, AAAA, CNAME): TXT records are
// DNS-01 challenges, released after every order.
type Hold struct {
	Duration time.Duration // 0: no hold, names are free as soon as they are released
	Now      time.Time
}

func (h Hold) applies(typ string) bool { return h.Duration > 0 && typ != "TXT" }

// held reports whether a released claim still holds its name at h.Now.
func (h Hold) held(c claim) bool {
	return !c.released.IsZero() && h.Now.Before(c.released.Add(h.Duration))
}

// addressTypes are the record types a name claim covers: no other owner may write any of them
// at a name an owner holds.
var addressTypes = []string{"A", "AAAA", "CNAME", "TXT"}

// NameClaim says who holds a name: another owner's live claim of any type, or its released claim
// still within the hold. Owner is "" when nobody but owner (or nobody at all) holds it.
type NameClaim struct {
	Owner     string
	HeldUntil time.Time // set for a released claim
}

// claimOfName is the first claim at name (any type) of an owner other than owner.
func claimOfName(observed *Snapshot, owner, name string, hold Hold) NameClaim {
	name = normalizeName(name)
	for _, t := range addressTypes {
		c := observed.claimOf(name, t)
		if !c.registered || c.owner == owner || c.owner == "" {
			continue
		}
		if c.released.IsZero() {
			return NameClaim{Owner: c.owner}
		}
		if hold.held(c) {
			return NameClaim{Owner: c.owner, HeldUntil: c.released.Add(hold.Duration)}
		}
	}
	return NameClaim{}
}
