package records

import (
	"cmp"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// Conflict is a desired record that cannot be written because someone else holds its name.
type Conflict struct {
	Record Record
	Owner  string // "" = unmanaged/foreign record
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
func Diff(observed *Snapshot, owner string, desired []Record) Plan {
	var plan Plan
	want := map[string]bool{}
	for _, d := range desired {
		d = normalizeRecord(d)
		if want[d.key()] {
			continue
		}
		want[d.key()] = true
		if c, conflict := conflictFor(observed, owner, d); conflict {
			plan.Conflicts = append(plan.Conflicts, c)
			continue
		}
		existing, exists := observed.get(d.Name, d.Type)
		_, registered := observed.ownerOf(d)
		switch {
		case !registered:
			plan.add(types.ChangeActionCreate, d)
			plan.add(types.ChangeActionCreate, registryRecord(d, owner))
		case !exists:
			plan.add(types.ChangeActionCreate, d)
		case !sameRecord(existing, d):
			plan.add(types.ChangeActionUpsert, d)
		}
	}
	for _, reg := range observed.registriesOf(owner) {
		typ, name, _ := parseRegistryName(reg.Name)
		if want[name+"|"+typ] {
			continue
		}
		if r, exists := observed.get(name, typ); exists {
			plan.add(types.ChangeActionDelete, r)
		}
		plan.add(types.ChangeActionDelete, reg)
	}
	return plan
}

// conflictFor reports whether desired record d collides with a record owner does not own.
func conflictFor(observed *Snapshot, owner string, d Record) (Conflict, bool) {
	o, registered := observed.ownerOf(d)
	if registered && o != owner {
		return Conflict{Record: d, Owner: o}, true
	}
	if _, exists := observed.get(d.Name, d.Type); exists && !registered {
		return Conflict{Record: d, Owner: ""}, true
	}
	// RFC 1034 §3.6.2: a CNAME cannot share its name with any other data, so a record of
	// another type at a CNAME's name is as much in the way as one of the same type. Records
	// of our own at that name are not in the way: they are being replaced (deleted below).
	for _, t := range observed.types[d.Name] {
		if t == d.Type || (t != "CNAME" && d.Type != "CNAME") {
			continue
		}
		if other, ok := observed.get(d.Name, t); ok {
			if oo, reg := observed.ownerOf(other); !reg || oo != owner {
				return Conflict{Record: d, Owner: oo}, true
			}
		}
	}
	return Conflict{}, false
}

func compareRecords(a, b Record) int {
	return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Type, b.Type))
}
