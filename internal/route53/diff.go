package route53

import (
	"cmp"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// Snapshot is what one hosted zone looked like at one moment. It is never changed after it is
// built: applying a write makes a new one, so callers may diff against it without locks.
type Snapshot struct {
	records map[string]Record   // by name|type
	types   map[string][]string // name → types present there
	gen     uint64              // which list produced it (re-list requests ask for a newer one)

	// byOwner indexes registry records by owner, built once per snapshot on first use, so a
	// thousand owners diffing against one snapshot do not each scan the whole zone.
	byOwnerOnce sync.Once
	byOwner     map[string][]Record
}

// NewSnapshot builds a snapshot from observed records (normalizing them).
func NewSnapshot(records ...Record) *Snapshot {
	s := &Snapshot{records: make(map[string]Record, len(records)), types: map[string][]string{}}
	for _, r := range records {
		s.put(normalizeRecord(r))
	}
	return s
}

func (s *Snapshot) put(r Record) {
	if _, exists := s.records[r.key()]; !exists {
		s.types[r.Name] = append(slices.Clip(s.types[r.Name]), r.Type) // never write into a slice an older snapshot shares
	}
	s.records[r.key()] = r
}

func (s *Snapshot) remove(name, typ string) {
	delete(s.records, name+"|"+typ)
	s.types[name] = slices.DeleteFunc(slices.Clone(s.types[name]), func(t string) bool { return t == typ })
	if len(s.types[name]) == 0 {
		delete(s.types, name)
	}
}

func (s *Snapshot) get(name, typ string) (Record, bool) {
	r, ok := s.records[name+"|"+typ]
	return r, ok
}

// Len is the number of record sets in the snapshot.
func (s *Snapshot) Len() int { return len(s.records) }

// Records returns every record set, sorted by name and type.
func (s *Snapshot) Records() []Record {
	out := make([]Record, 0, len(s.records))
	for _, r := range s.records {
		out = append(out, r)
	}
	slices.SortFunc(out, compareRecords)
	return out
}

// registriesOf returns the registry records naming owner, sorted.
func (s *Snapshot) registriesOf(owner string) []Record {
	s.byOwnerOnce.Do(func() {
		s.byOwner = map[string][]Record{}
		for _, r := range s.records {
			if !isRegistry(r) {
				continue
			}
			for _, v := range r.Values {
				if o, ok := ParseOwner(v); ok {
					s.byOwner[o] = append(s.byOwner[o], r)
					break
				}
			}
		}
		for _, rs := range s.byOwner {
			slices.SortFunc(rs, compareRecords)
		}
	})
	return s.byOwner[owner]
}

// withChanges returns a new snapshot with successfully written changes applied.
func (s *Snapshot) withChanges(changes []types.Change) *Snapshot {
	n := &Snapshot{records: make(map[string]Record, len(s.records)+len(changes)), types: make(map[string][]string, len(s.types)), gen: s.gen}
	for k, r := range s.records {
		n.records[k] = r
	}
	for k, t := range s.types {
		n.types[k] = t
	}
	for _, c := range changes {
		r := recordFromSDK(*c.ResourceRecordSet)
		switch c.Action {
		case types.ChangeActionDelete:
			n.remove(r.Name, r.Type)
		default:
			n.put(r)
		}
	}
	return n
}

// ownerOf returns who the registry says owns the record set name/type; registered is false
// when there is no registry record.
func (s *Snapshot) ownerOf(r Record) (owner string, registered bool) {
	reg, ok := s.get(RegistryName(r), registryRecType)
	if !ok {
		return "", false
	}
	for _, v := range reg.Values {
		if o, ok := ParseOwner(v); ok {
			return o, true
		}
	}
	// A TXT record at our registry name that is not ours: someone else's, treat as foreign.
	return "", true
}

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
