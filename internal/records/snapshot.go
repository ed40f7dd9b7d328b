package records

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// Snapshot is what one hosted zone looked like at one moment. It is never changed after it is
// built: applying a write makes a new one, so callers may diff against it without locks.
//
// A snapshot is a table of the zone as listed (shared by every later snapshot) plus the record
// sets written since (delta). A write copies only the delta, so the thousands of writes that
// follow one list cost what they write, not a copy of the zone each; once the delta outgrows
// mergeAfter it is merged into a new table.
type Snapshot struct {
	base  *zoneTable
	delta map[rrKey]deltaSet // nil, or record sets written since base; a deleted one is gone
	n     int                // record sets in the snapshot
	gen   uint64             // which list produced it (re-list requests ask for a newer one)

	// deltaOwners indexes the delta's registry records by owner, built on first use.
	deltaOwnersOnce sync.Once
	deltaOwners     []ownerRef
}

type deltaSet struct {
	set  rrset
	gone bool
}

// zoneTable is the record sets of a zone by key, and its registry records by owner (built once
// on first use, so a thousand owners diffing against one zone do not each scan it).
type zoneTable struct {
	sets       map[rrKey]rrset
	ownersOnce sync.Once
	owners     []ownerRef
}

// ownerRef says that the registry record at name (type TXT) names owner; an index is sorted by
// owner, then name.
type ownerRef struct{ owner, name string }

// NewSnapshot builds a snapshot from observed records (normalizing them).
func NewSnapshot(records ...Record) *Snapshot {
	t := &zoneTable{sets: make(map[rrKey]rrset, len(records))}
	for _, r := range records {
		k, s := compact(normalizeRecord(r))
		t.sets[k] = s
	}
	return &Snapshot{base: t, n: len(t.sets)}
}

// addListed adds a page of a zone's listing to a table being built.
func (t *zoneTable) addListed(sets []types.ResourceRecordSet) {
	for _, rs := range sets {
		k, r := compact(recordFromSDK(rs))
		t.sets[k] = r
	}
}

func (s *Snapshot) lookup(k rrKey) (rrset, bool) {
	if d, ok := s.delta[k]; ok {
		return d.set, !d.gone
	}
	r, ok := s.base.sets[k]
	return r, ok
}

func (s *Snapshot) has(name, typ string) bool {
	_, ok := s.lookup(rrKey{name: name, typ: typ})
	return ok
}

func (s *Snapshot) get(name, typ string) (Record, bool) {
	k := rrKey{name: name, typ: typ}
	r, ok := s.lookup(k)
	if !ok {
		return Record{}, false
	}
	return record(k, r), true
}

// Len is the number of record sets in the snapshot.
func (s *Snapshot) Len() int { return s.n }

// Records returns every record set, sorted by name and type.
func (s *Snapshot) Records() []Record {
	out := make([]Record, 0, s.n)
	for k, r := range s.base.sets {
		if _, changed := s.delta[k]; !changed {
			out = append(out, record(k, r))
		}
	}
	for k, d := range s.delta {
		if !d.gone {
			out = append(out, record(k, d.set))
		}
	}
	slices.SortFunc(out, compareRecords)
	return out
}

// registriesOf returns the registry records naming owner, sorted.
func (s *Snapshot) registriesOf(owner string) []Record {
	var out []Record
	for _, ref := range refsOf(s.base.ownerIndex(), owner) {
		k := rrKey{name: ref.name, typ: registryRecType}
		if _, changed := s.delta[k]; !changed {
			out = append(out, record(k, s.base.sets[k]))
		}
	}
	s.deltaOwnersOnce.Do(func() {
		for k, d := range s.delta {
			if !d.gone {
				s.deltaOwners = appendOwnerRef(s.deltaOwners, k, d.set)
			}
		}
		sortOwnerRefs(s.deltaOwners)
	})
	fromDelta := refsOf(s.deltaOwners, owner)
	for _, ref := range fromDelta {
		k := rrKey{name: ref.name, typ: registryRecType}
		out = append(out, record(k, s.delta[k].set))
	}
	if len(fromDelta) > 0 {
		slices.SortFunc(out, compareRecords)
	}
	return out
}

func (t *zoneTable) ownerIndex() []ownerRef {
	t.ownersOnce.Do(func() {
		for k, r := range t.sets {
			t.owners = appendOwnerRef(t.owners, k, r)
		}
		t.owners = slices.Clip(t.owners)
		sortOwnerRefs(t.owners)
	})
	return t.owners
}

// appendOwnerRef adds the owner of a registry record (the first value naming one) to an index.
func appendOwnerRef(refs []ownerRef, k rrKey, r rrset) []ownerRef {
	if !isRegistry(Record{Name: k.name, Type: k.typ}) {
		return refs
	}
	r.eachValue(func(v string) bool {
		o, ok := ParseOwner(v)
		if ok {
			refs = append(refs, ownerRef{owner: o, name: k.name})
		}
		return ok
	})
	return refs
}

func sortOwnerRefs(refs []ownerRef) {
	slices.SortFunc(refs, func(a, b ownerRef) int { return cmp.Or(cmp.Compare(a.owner, b.owner), cmp.Compare(a.name, b.name)) })
}

// refsOf is the part of a sorted index that names owner.
func refsOf(refs []ownerRef, owner string) []ownerRef {
	i, _ := slices.BinarySearchFunc(refs, owner, func(r ownerRef, o string) int { return cmp.Compare(r.owner, o) })
	j := i
	for j < len(refs) && refs[j].owner == owner {
		j++
	}
	return refs[i:j]
}

// mergeAfter is the delta size at which a write merges the delta into a new table: about the
// square root of the zone's size, which balances copying the delta on every write against
// copying the table once per mergeAfter written record sets.
func mergeAfter(tableLen int) int {
	return 64 + 2*int(math.Sqrt(float64(tableLen)))
}

// withChanges returns a new snapshot with successfully written changes applied.
func (s *Snapshot) withChanges(changes []types.Change) *Snapshot {
	delta := make(map[rrKey]deltaSet, len(s.delta)+len(changes))
	maps.Copy(delta, s.delta)
	n := &Snapshot{base: s.base, delta: delta, n: s.n, gen: s.gen}
	for _, c := range changes {
		k, r := compact(recordFromSDK(*c.ResourceRecordSet))
		_, existed := n.lookup(k)
		_, listed := s.base.sets[k]
		switch {
		case c.Action != types.ChangeActionDelete:
			delta[k] = deltaSet{set: r}
			if !existed {
				n.n++
			}
		case listed:
			delta[k] = deltaSet{gone: true}
		default:
			delete(delta, k)
		}
		if c.Action == types.ChangeActionDelete && existed {
			n.n--
		}
	}
	if len(delta) > mergeAfter(len(s.base.sets)) {
		n.base, n.delta = s.base.merged(delta, n.n), nil
	}
	return n
}

// merged is a new table: t with delta applied.
func (t *zoneTable) merged(delta map[rrKey]deltaSet, size int) *zoneTable {
	m := &zoneTable{sets: make(map[rrKey]rrset, size)}
	for k, r := range t.sets {
		if _, changed := delta[k]; !changed {
			m.sets[k] = r
		}
	}
	for k, d := range delta {
		if !d.gone {
			m.sets[k] = d.set
		}
	}
	return m
}
