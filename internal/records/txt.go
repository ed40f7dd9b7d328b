package records

import (
	"context"
	"slices"
	"sync"
)

// ChallengeTTL is the TTL of DNS-01 challenge records: short, so a retried challenge is not
// hidden behind a cached old value.
const ChallengeTTL int64 = 60

// AddTXTValue makes value one of the values of the TXT record set at name, owned by owner, and
// leaves the owner's other records alone. DNS-01 needs it: a name and its wildcard are two
// authorizations whose challenges share one TXT name and are live at the same time. A TXT
// record set at name owned by someone else comes back as a conflict.
func (s *Service) AddTXTValue(ctx context.Context, zone Zone, owner, name, value string) (EnsureResult, error) {
	return s.editTXT(ctx, zone, owner, name, func(values []string) []string {
		if slices.Contains(values, value) {
			return values
		}
		return append(values, value)
	})
}

// RemoveTXTValue removes value from the owner's TXT record set at name, deleting the set (and its
// registry entry) when no value is left.
func (s *Service) RemoveTXTValue(ctx context.Context, zone Zone, owner, name, value string) (EnsureResult, error) {
	return s.editTXT(ctx, zone, owner, name, func(values []string) []string {
		return slices.DeleteFunc(values, func(v string) bool { return v == value })
	})
}

// editTXT is a read-modify-write of one owned record set. Edits by one owner in one zone are
// serialized, so two values added at once both survive: the second edit reads the snapshot the
// first one's write was applied to.
func (s *Service) editTXT(ctx context.Context, zone Zone, owner, name string, edit func([]string) []string) (EnsureResult, error) {
	lock := s.ownerLock(zone.ID + "|" + owner)
	lock.Lock()
	defer lock.Unlock()
	snap, err := s.snapshot(ctx, s.zoneState(zone.ID), 0)
	if err != nil {
		return EnsureResult{}, err
	}
	target := Record{Name: normalizeName(name), Type: "TXT", TTL: ChallengeTTL}
	var desired []Record
	for _, r := range ownedRecords(snap, owner) {
		if r.key() == target.key() {
			target.Values = slices.Clone(r.Values)
			continue
		}
		desired = append(desired, r)
	}
	if target.Values = edit(target.Values); len(target.Values) > 0 {
		desired = append(desired, target)
	}
	return s.Ensure(ctx, zone, owner, desired)
}

// ownedRecords are the record sets in the snapshot whose registry names owner.
func ownedRecords(snap *Snapshot, owner string) []Record {
	var out []Record
	for _, reg := range snap.registriesOf(owner) {
		typ, name, _ := parseRegistryName(reg.Name)
		if r, ok := snap.get(name, typ); ok {
			out = append(out, r)
		}
	}
	return out
}

func (s *Service) ownerLock(key string) *sync.Mutex {
	l, _ := s.ownerLocks.LoadOrStore(key, &sync.Mutex{})
	return l.(*sync.Mutex)
}
