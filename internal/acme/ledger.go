package acme

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Ledger is what the CA's limits count: when orders were sent, by budget, and the holds that
// rateLimited answers put on an account (their Retry-After).
type Ledger struct {
	// Orders lists send times by budget key (accountBudget, domainBudget, duplicateBudget),
	// sorted.
	Orders map[string][]time.Time `json:"orders,omitempty"`
	// Holds are "not before" times by account budget key.
	Holds map[string]time.Time `json:"holds,omitempty"`
}

func newLedger() Ledger {
	return Ledger{Orders: map[string][]time.Time{}, Holds: map[string]time.Time{}}
}

// merge adds other's entries to l (a union: two replicas or shards sharing an account both
// count), dropping what is older than keep.
func (l *Ledger) merge(other Ledger, keep time.Time) {
	for k, ts := range other.Orders {
		l.Orders[k] = unionTimes(l.Orders[k], ts)
	}
	for k, t := range other.Holds {
		if t.After(l.Holds[k]) {
			l.Holds[k] = t
		}
	}
	l.prune(keep)
}

func (l *Ledger) prune(keep time.Time) {
	for k, ts := range l.Orders {
		i := 0
		for i < len(ts) && ts[i].Before(keep) {
			i++
		}
		if i == len(ts) {
			delete(l.Orders, k)
		} else if i > 0 {
			l.Orders[k] = slices.Clone(ts[i:])
		}
	}
	for k, t := range l.Holds {
		if t.Before(keep) {
			delete(l.Holds, k)
		}
	}
}

func (l Ledger) clone() Ledger {
	c := newLedger()
	for k, ts := range l.Orders {
		c.Orders[k] = slices.Clone(ts)
	}
	maps.Copy(c.Holds, l.Holds)
	return c
}

func unionTimes(a, b []time.Time) []time.Time {
	out := slices.Concat(a, b)
	slices.SortFunc(out, func(x, y time.Time) int { return x.Compare(y) })
	return slices.CompactFunc(out, func(x, y time.Time) bool { return x.Equal(y) })
}

// insertTime adds t to the sorted slice.
func insertTime(ts []time.Time, t time.Time) []time.Time {
	i, _ := slices.BinarySearchFunc(ts, t, func(e, t time.Time) int { return e.Compare(t) })
	return slices.Insert(slices.Clip(ts), i, t)
}

// removeTime removes one occurrence of t.
func removeTime(ts []time.Time, t time.Time) []time.Time {
	if i := slices.IndexFunc(ts, func(e time.Time) bool { return e.Equal(t) }); i >= 0 {
		return slices.Delete(slices.Clone(ts), i, i+1)
	}
	return ts
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

// accountBudget is the budget key of an ACME account (server + email).
func accountBudget(server, email string) string { return "account/" + shortHash(server+"\n"+email) }

// domainBudget is the budget key of a registered domain at a CA (shared by all its accounts).
func domainBudget(server, domain string) string { return "domain/" + shortHash(server) + "/" + domain }

// duplicateBudget is the budget key of one exact set of names at a CA (shared by all its
// accounts). The set is hashed: a certificate may name up to 100 names.
func duplicateBudget(server string, names []string) string {
	return "names/" + shortHash(server) + "/" + shortHash(nameSet(names))
}

// LedgerStore keeps the ledger across restarts.
type LedgerStore interface {
	Load(ctx context.Context) (Ledger, error)
	// Save merges l with what is stored (another replica or shard may have added to it) and
	// returns the merged ledger.
	Save(ctx context.Context, l Ledger) (Ledger, error)
}

// LedgerSecretName is the Secret in the controller's namespace that holds the ledger.
const LedgerSecretName = "securesite-acme-rate-limits"

const (
	ledgerField     = "ledger.json"
	LedgerComponent = "acme-rate-limits"
)

type secretLedgerStore struct {
	c         client.Client
	reader    client.Reader
	namespace string
	// keep says how far back entries matter (the longest window).
	keep func() time.Time
	mu   sync.Mutex
	// last is the Secret's metadata as this store last read or wrote it (under mu). A save
	// writes over that version without reading the Secret first: when no one else wrote since,
	// the stored ledger is what this store wrote, which the ledger it saves already holds. Each
	// order's send waits for a save, and the read before the write was half of it.
	last *metav1.ObjectMeta
}

// NewSecretLedgerStore keeps the ledger in a Secret in the controller's namespace, labelled so
// the controller's cache holds it. Shards and replicas using one namespace share it.
// Reads go through reader (the API server, not the cache): a merge must see the latest copy.
func NewSecretLedgerStore(c client.Client, reader client.Reader, namespace string, keep func() time.Time) LedgerStore {
	return &secretLedgerStore{c: c, reader: reader, namespace: namespace, keep: keep}
}

func (s *secretLedgerStore) key() types.NamespacedName {
	return types.NamespacedName{Namespace: s.namespace, Name: LedgerSecretName}
}

func (s *secretLedgerStore) Load(ctx context.Context) (Ledger, error) {
	l := newLedger()
	var sec corev1.Secret
	err := s.reader.Get(ctx, s.key(), &sec)
	if apierrors.IsNotFound(err) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("reading ACME rate-limit ledger %s: %w", s.key(), err)
	}
	s.mu.Lock()
	s.last = sec.ObjectMeta.DeepCopy()
	s.mu.Unlock()
	if raw := sec.Data[ledgerField]; len(raw) > 0 {
		var stored Ledger
		if err := json.Unmarshal(raw, &stored); err != nil {
			// A damaged ledger must not stop issuance; the CA's own answers still hold us back.
			return l, nil //nolint:nilerr // see above
		}
		l.merge(stored, s.keep())
	}
	return l, nil
}

func (s *secretLedgerStore) Save(ctx context.Context, l Ledger) (Ledger, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if merged, ok := s.saveOverLast(ctx, l); ok {
		return merged, nil
	}
	for attempt := 0; ; attempt++ {
		merged, err := s.readMergeWrite(ctx, l)
		if err == nil {
			return merged, nil
		}
		if (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) && attempt < 5 {
			continue
		}
		return l, err
	}
}

// readMergeWrite reads the stored ledger, merges l into it and writes the result over the version
// it read (or creates the Secret).
func (s *secretLedgerStore) readMergeWrite(ctx context.Context, l Ledger) (Ledger, error) {
	var sec corev1.Secret
	err := s.reader.Get(ctx, s.key(), &sec)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return l, fmt.Errorf("reading ACME rate-limit ledger %s: %w", s.key(), err)
	}
	merged := l.clone()
	if exists {
		var stored Ledger
		if json.Unmarshal(sec.Data[ledgerField], &stored) == nil {
			merged.merge(stored, s.keep())
		}
	}
	merged.prune(s.keep())
	raw, err := json.Marshal(merged)
	if err != nil {
		return l, err
	}
	if exists {
		sec.Data = map[string][]byte{ledgerField: raw}
		err = s.c.Update(ctx, &sec)
	} else {
		sec = corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: LedgerSecretName,
				Labels: map[string]string{LabelManagedBy: ManagedBy, LabelComponent: LedgerComponent}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{ledgerField: raw},
		}
		err = s.c.Create(ctx, &sec)
	}
	if err != nil {
		return l, fmt.Errorf("saving ACME rate-limit ledger %s: %w", s.key(), err)
	}
	s.last = sec.ObjectMeta.DeepCopy()
	return merged, nil
}

// saveOverLast writes l over the version of the Secret this store last read or wrote. ok is
// false when that version is unknown or the write failed (someone else wrote since): the caller
// then reads, merges and writes.
func (s *secretLedgerStore) saveOverLast(ctx context.Context, l Ledger) (Ledger, bool) {
	if s.last == nil || s.last.ResourceVersion == "" {
		return l, false
	}
	merged := l.clone()
	merged.prune(s.keep())
	raw, err := json.Marshal(merged)
	if err != nil {
		return l, false
	}
	sec := corev1.Secret{ObjectMeta: *s.last.DeepCopy(), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{ledgerField: raw}}
	err = s.c.Update(ctx, &sec)
	if err != nil {
		// Someone else wrote (a conflict), the Secret is gone, or it is not as this store left
		// it: read, merge and write.
		s.last = nil
		return l, false
	}
	s.last = sec.ObjectMeta.DeepCopy()
	return merged, true
}

// memoryLedger keeps the ledger for the life of the process (tests, one-shot tools).
type memoryLedger struct {
	mu sync.Mutex
	l  Ledger
}

func (m *memoryLedger) Load(context.Context) (Ledger, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.l.Orders == nil {
		m.l = newLedger()
	}
	return m.l.clone(), nil
}

func (m *memoryLedger) Save(_ context.Context, l Ledger) (Ledger, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.l.Orders == nil {
		m.l = newLedger()
	}
	m.l.merge(l, time.Time{})
	return m.l.clone(), nil
}
