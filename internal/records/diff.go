package records

import (
	"cmp"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// Conflict is a desired record that cannot be written because someone else holds its name.
type Conflict struct {
	Record Record
	Owner  string // "" = unmanaged/foreign record
	// HeldUntil is set when the name was released by Owner and is held for it until then.
	HeldUntil time.Time
}

// Plan is the difference between a zone and what one owner wants there.
type Plan struct {
	// Creates, Upserts and Deletes list the owner's records (registry records excluded) that
	// would be written.
	Creates, Upserts, Deletes []Record
	// Conflicts are desired records held by another owner or by no owner; never written.
	Conflicts []Conflict

	// changes is everything to write, registry records included.
	changes []types.Change
}

// InSync reports whether nothing has to be written.
func (p Plan) InSync() bool { return len(p.changes) == 0 }

// Changed lists the owner's records the plan writes, in the order creates, upserts, deletes.
func (p Plan) Changed() []Record {
	return slices.Concat(p.Creates, p.Upserts, p.Deletes)
}

// Summary renders the owner's changes as "ACTION TYPE name" lines, e.g. "UPSERT A infra.duckhoo.site".
func (p Plan) Summary() []string {
	var out []string
	for _, part := range []struct {
		action  string
		records []Record
	}{{"CREATE", p.Creates}, {"UPSERT", p.Upserts}, {"DELETE", p.Deletes}} {
		for _, r := range part.records {
			out = append(out, part.action+" "+r.Type+" "+r.Name)
		}
	}
	return out
}

func (p *Plan) add(action types.ChangeAction, r Record) {
	p.changes = append(p.changes, types.Change{Action: action, ResourceRecordSet: new(recordToSDK(r))})
	if isRegistry(r) {
		return
	}
	switch action {
	case types.ChangeActionCreate:
		p.Creates = append(p.Creates, r)
	case types.ChangeActionUpsert:
		p.Upserts = append(p.Upserts, r)
	case types.ChangeActionDelete:
		p.Deletes = append(p.Deletes, r)
	}
}

// Diff decides what owner must write so that the zone holds exactly the desired records among
// those owner owns. It creates missing records with their registry, upserts owned records
// that drifted, deletes owned records no longer desired (with their registry), and reports
// every desired record whose name is held by someone else as a conflict instead of touching it.
// Names are claimed whole: a record of any type at a name another owner holds is a conflict.
func Diff(observed *Snapshot, owner string, desired []Record) Plan {
	return DiffWithHold(observed, owner, desired, Hold{})
}

// addWanted plans a desired record the owner may hold: created with its registry record when
// the name is unclaimed, claimed anew when released, written when it differs.
func (p *Plan) addWanted(observed *Snapshot, owner string, d Record) {
	existing, exists := observed.lookup(keyOf(d))
	c := observed.claimOf(d.Name, d.Type)
	switch {
	case !c.registered:
		p.add(types.ChangeActionCreate, d)
		p.add(types.ChangeActionCreate, registryRecord(d, owner))
	case c.owner != owner || !c.released.IsZero():
		// A released claim (ours, or another owner's whose hold has passed): claim it anew.
		p.add(types.ChangeActionUpsert, registryRecord(d, owner))
		if !exists {
			p.add(types.ChangeActionCreate, d)
		} else if !existing.same(d) {
			p.add(types.ChangeActionUpsert, d)
		}
	case !exists:
		p.add(types.ChangeActionCreate, d)
	case !existing.same(d):
		p.add(types.ChangeActionUpsert, d)
	}
}

// DiffWithHold is Diff where released names stay held for hold.Duration: a deleted record's
// registry entry is kept, marked released, instead of deleted; another owner may take the name
// once the hold has passed, the same owner at once.
func DiffWithHold(observed *Snapshot, owner string, desired []Record, hold Hold) Plan {
	var plan Plan
	want := map[rrKey]bool{}
	for _, d := range desired {
		d = normalizeRecord(d)
		if want[keyOf(d)] {
			continue
		}
		want[keyOf(d)] = true
		if c, conflict := conflictFor(observed, owner, d, hold); conflict {
			plan.Conflicts = append(plan.Conflicts, c)
			continue
		}
		plan.addWanted(observed, owner, d)
	}
	for _, reg := range observed.registriesOf(owner) {
		typ, name, _ := parseRegistryName(reg.Name)
		if want[rrKey{name: name, typ: typ}] {
			continue
		}
		c := observed.claimOf(name, typ)
		r, exists := observed.get(name, typ)
		if exists {
			plan.add(types.ChangeActionDelete, r)
		}
		switch {
		case !c.released.IsZero() && !exists && hold.held(c):
			// Our own released claim, still holding the name.
		case !c.released.IsZero() && !exists:
			plan.add(types.ChangeActionDelete, reg) // hold over: the name is free
		case hold.applies(typ):
			plan.add(types.ChangeActionUpsert, releasedRecord(Record{Name: name, Type: typ}, owner, hold.Now))
		default:
			plan.add(types.ChangeActionDelete, reg)
		}
	}
	return plan
}

// conflictFor reports whether desired record d collides with a record owner does not own.
func conflictFor(observed *Snapshot, owner string, d Record, hold Hold) (Conflict, bool) {
	c := observed.claimOf(d.Name, d.Type)
	exists := observed.has(d.Name, d.Type)
	switch {
	case c.registered && c.owner != owner && c.released.IsZero():
		return Conflict{Record: d, Owner: c.owner}, true
	case c.registered && c.owner != owner && hold.held(c):
		return Conflict{Record: d, Owner: c.owner, HeldUntil: c.released.Add(hold.Duration)}, true
	case c.registered && c.owner != owner && exists:
		// A released claim whose record is back: not ours to overwrite.
		return Conflict{Record: d, Owner: ""}, true
	case exists && !c.registered:
		return Conflict{Record: d, Owner: ""}, true
	}
	// A name is claimed whole: a record of any other type there, or a registry entry of another
	// owner for it (live, or released and still held), is in the way. RFC 1034 §3.6.2 makes this
	// necessary for CNAMEs anyway; for the rest it keeps an AAAA from being added beside another
	// site's A. Records of our own at that name are not in the way.
	for _, t := range addressTypes {
		if t == d.Type {
			continue
		}
		oc := observed.claimOf(d.Name, t)
		if oc.registered && oc.owner != owner && (oc.released.IsZero() || hold.held(oc)) {
			cf := Conflict{Record: d, Owner: oc.owner}
			if !oc.released.IsZero() {
				cf.HeldUntil = oc.released.Add(hold.Duration)
			}
			return cf, true
		}
		if observed.has(d.Name, t) && !oc.registered && (t == "CNAME" || d.Type == "CNAME") {
			return Conflict{Record: d, Owner: ""}, true
		}
	}
	return Conflict{}, false
}

func compareRecords(a, b Record) int {
	return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Type, b.Type))
}
