package records

import (
	"context"
	"slices"
	"sync"
)

// ChallengeTTL is the TTL of DNS-01 challenge records: short, so a retried challenge is not
// hidden behind a cached old value.
const ChallengeTTL int64 = 60

// TXTValue is one value of the TXT record set at Name.
type TXTValue struct {
	Name  string
	Value string
}

// AddTXTValues makes each value one of the values of the TXT record set at its name, owned by
// owner, and leaves the owner's other records alone; all in one change. DNS-01 needs it: the
// challenges of one order are written together, and a name and its wildcard are two
// authorizations whose challenges share one TXT name and are live at the same time. A TXT record
// set owned by someone else comes back as a conflict.
func (s *Service) AddTXTValues(ctx context.Context, zone Zone, owner string, values []TXTValue) (EnsureResult, error) {
	return s.editTXT(ctx, zone, owner, values, func(have []string, value string) []string {
		if slices.Contains(have, value) {
			return have
		}
		return append(have, value)
	})
}

// RemoveTXTValues removes each value from the owner's TXT record set at its name, deleting a set
// (and its registry entry) when no value is left; all in one change.
func (s *Service) RemoveTXTValues(ctx context.Context, zone Zone, owner string, values []TXTValue) (EnsureResult, error) {
	return s.editTXT(ctx, zone, owner, values, func(have []string, value string) []string {
		return slices.DeleteFunc(have, func(v string) bool { return v == value })
	})
}

// editTXT is a read-modify-write of owned TXT record sets. Edits by one owner in one zone are
// serialized, so two values added at once both survive: the second edit reads the snapshot the
// first one's write was applied to.
func (s *Service) editTXT(ctx context.Context, zone Zone, owner string, values []TXTValue, edit func(have []string, value string) []string) (EnsureResult, error) {
	defer s.ownerLocks.lock(zone.ID + "|" + owner)()
	snap, err := s.snapshot(ctx, s.zoneState(zone.ID), 0)
	if err != nil {
		return EnsureResult{}, err
	}
	targets := map[string]*Record{} // by key
	var order []string
	for _, v := range values {
		t := Record{Name: normalizeName(v.Name), Type: "TXT", TTL: ChallengeTTL}
		if _, ok := targets[t.key()]; !ok {
			targets[t.key()] = &t
			order = append(order, t.key())
		}
	}
	var desired []Record
	for _, r := range ownedRecords(snap, owner) {
		if t, ok := targets[r.key()]; ok {
			t.Values = slices.Clone(r.Values)
			continue
		}
		desired = append(desired, r)
	}
	for _, v := range values {
		t := targets[Record{Name: normalizeName(v.Name), Type: "TXT"}.key()]
		t.Values = edit(t.Values, v.Value)
	}
	for _, k := range order {
		if t := targets[k]; len(t.Values) > 0 {
			desired = append(desired, *t)
		}
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

// keyedLocks are mutexes by key that exist only while someone holds or waits for them: a site's
// lock is gone once its edit is done, so their number is that of the edits in flight, not of
// every owner that ever edited.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int // holders and waiters; changed under keyedLocks.mu
}

// lock takes the lock of key and returns its unlock.
func (k *keyedLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyedLock{}
		k.m[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		defer k.mu.Unlock()
		if l.users--; l.users == 0 {
			delete(k.m, key)
		}
	}
}

func (k *keyedLocks) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}
