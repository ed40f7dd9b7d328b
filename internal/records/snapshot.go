package records

import (
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
