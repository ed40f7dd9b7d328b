package records

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"
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

// ownerRef says that the registry record at name (type TXT) names owner; an index is sorted by
// owner, then name.
type ownerRef struct{ owner, name string }

// NewSnapshot builds a snapshot from observed records (normalizing them).
func NewSnapshot(records ...Record) *Snapshot {
	b := newTableBuilder(len(records))
	for _, r := range records {
		b.add(compact(normalizeRecord(r)))
	}
	return b.table().snapshot(0)
}

// snapshot is the snapshot of just the table; gen is the list that produced it.
func (t *zoneTable) snapshot(gen uint64) *Snapshot {
	return &Snapshot{base: t, n: len(t.sets), gen: gen}
}

func (s *Snapshot) lookup(k rrKey) (rrset, bool) {
	if d, ok := s.delta[k]; ok {
		return d.set, !d.gone
	}
	return s.base.get(k)
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
	for _, e := range s.base.sets {
		if _, changed := s.delta[e.key]; !changed {
			out = append(out, record(e.key, e.set))
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
	for _, e := range s.base.registriesOf(owner) {
		if _, changed := s.delta[e.key]; !changed {
			out = append(out, record(e.key, e.set))
		}
	}
	s.deltaOwnersOnce.Do(func() {
		for k, d := range s.delta {
			if o, ok := registryOwnerOf(k, d.set); ok && !d.gone {
				s.deltaOwners = append(s.deltaOwners, ownerRef{owner: o, name: k.name})
			}
		}
		slices.SortFunc(s.deltaOwners, func(a, b ownerRef) int {
			return cmp.Or(strings.Compare(a.owner, b.owner), strings.Compare(a.name, b.name))
		})
	})
	lo, _ := slices.BinarySearchFunc(s.deltaOwners, owner, func(r ownerRef, o string) int { return strings.Compare(r.owner, o) })
	fromDelta := 0
	for _, ref := range s.deltaOwners[lo:] {
		if ref.owner != owner {
			break
		}
		k := rrKey{name: ref.name, typ: registryRecType}
		out = append(out, record(k, s.delta[k].set))
		fromDelta++
	}
	if fromDelta > 0 {
		slices.SortFunc(out, compareRecords)
	}
	return out
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
		_, listed := s.base.find(k)
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
