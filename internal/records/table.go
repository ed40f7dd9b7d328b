package records

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// zoneTable is the record sets of a zone as listed: a slice sorted by key, looked up by binary
// search. It is never changed once built, so it needs no room to grow: a map of the 20,000 record
// sets of BenchmarkZoneMemory took 110 bytes per record set, the slice takes 64.
type zoneTable struct {
	sets []tableEntry

	// owners are the positions of the registry records in sets, sorted by the owner they name and
	// then by name; built once on first use, so a thousand owners diffing against one zone do not
	// each scan it.
	ownersOnce sync.Once
	owners     []int32
}

type tableEntry struct {
	key rrKey
	set rrset
}

func compareKeys(a, b rrKey) int {
	return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.typ, b.typ))
}

// tableBuilder collects the record sets of a new table.
type tableBuilder struct{ entries []tableEntry }

// newTableBuilder starts a table of about size record sets.
func newTableBuilder(size int) *tableBuilder {
	return &tableBuilder{entries: make([]tableEntry, 0, size)}
}

func (b *tableBuilder) add(k rrKey, s rrset) {
	b.entries = append(b.entries, tableEntry{key: k, set: s})
}

// addListed adds a page of a zone's listing.
func (b *tableBuilder) addListed(page []types.ResourceRecordSet) {
	for _, rs := range page {
		b.add(compact(recordFromSDK(rs)))
	}
}

// table sorts what was added into a table; of record sets with one key, the last added is kept.
func (b *tableBuilder) table() *zoneTable {
	all := b.entries
	b.entries = nil
	slices.SortStableFunc(all, func(x, y tableEntry) int { return compareKeys(x.key, y.key) })
	out := all[:0]
	for i, e := range all {
		if i+1 < len(all) && all[i+1].key == e.key {
			continue
		}
		out = append(out, e)
	}
	clear(all[len(out):])
	if cap(out)-len(out) > len(out)/16 {
		out = slices.Clone(out) // the size guessed was too large: keep no unused room
	}
	return &zoneTable{sets: out}
}

func (t *zoneTable) find(k rrKey) (int, bool) {
	return slices.BinarySearchFunc(t.sets, k, func(e tableEntry, k rrKey) int { return compareKeys(e.key, k) })
}

func (t *zoneTable) get(k rrKey) (rrset, bool) {
	if i, ok := t.find(k); ok {
		return t.sets[i].set, true
	}
	return rrset{}, false
}

// registriesOf are the registry records of the table that name owner, sorted by name.
func (t *zoneTable) registriesOf(owner string) []tableEntry {
	t.ownersOnce.Do(t.indexOwners)
	ownerAt := func(i int32) string { o, _ := registryOwner(t.sets[i].set); return o }
	lo, _ := slices.BinarySearchFunc(t.owners, owner, func(i int32, o string) int { return strings.Compare(ownerAt(i), o) })
	var out []tableEntry
	for _, i := range t.owners[lo:] {
		if ownerAt(i) != owner {
			break
		}
		out = append(out, t.sets[i])
	}
	return out
}

func (t *zoneTable) indexOwners() {
	// Each registry record's owner is read once, not again in every comparison of the sort; the
	// index keeps only the positions.
	type ownedAt struct {
		owner string
		i     int32
	}
	var found []ownedAt
	for i, e := range t.sets {
		if o, ok := registryOwnerOf(e.key, e.set); ok {
			found = append(found, ownedAt{o, int32(i)})
		}
	}
	// The table is sorted by key, so a stable sort by owner keeps each owner's records by name.
	slices.SortStableFunc(found, func(a, b ownedAt) int { return strings.Compare(a.owner, b.owner) })
	t.owners = make([]int32, len(found))
	for k, f := range found {
		t.owners[k] = f.i
	}
}

// registryOwnerOf is the owner a registry record names: the first of its values that names one.
// ok is false for any other record set.
func registryOwnerOf(k rrKey, s rrset) (string, bool) {
	if !isRegistry(Record{Name: k.name, Type: k.typ}) {
		return "", false
	}
	return registryOwner(s)
}

func registryOwner(s rrset) (owner string, ok bool) {
	s.eachValue(func(v string) bool {
		owner, ok = ParseOwner(v)
		return ok
	})
	return owner, ok
}

// merged is a new table: t with delta applied.
func (t *zoneTable) merged(delta map[rrKey]deltaSet, size int) *zoneTable {
	written := make([]tableEntry, 0, len(delta))
	for k, d := range delta {
		if !d.gone {
			written = append(written, tableEntry{key: k, set: d.set})
		}
	}
	slices.SortFunc(written, func(x, y tableEntry) int { return compareKeys(x.key, y.key) })
	out := make([]tableEntry, 0, size)
	kept := t.sets
	for len(kept) > 0 || len(written) > 0 {
		switch {
		case len(written) == 0 || len(kept) > 0 && compareKeys(kept[0].key, written[0].key) < 0:
			if _, changed := delta[kept[0].key]; !changed {
				out = append(out, kept[0])
			}
			kept = kept[1:]
		default:
			out = append(out, written[0])
			written = written[1:]
		}
	}
	return &zoneTable{sets: out}
}
