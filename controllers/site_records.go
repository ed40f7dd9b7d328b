package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// siteRecord is what the controller keeps of a site between passes, in place of a cached copy of
// the whole object (about 2.6 KB decoded, at 10,000 sites the largest thing the manager held):
// the resourceVersion of its last status patch, what the per-site metrics export, and when its
// next resync is due.
type siteRecord struct {
	// written is the resourceVersion our last status patch returned: a site read back with the
	// same version has the status we wrote, so its AWS owner tags need no second look.
	written string
	// notAfter is the certificate's NotAfter in Unix seconds (0: no certificate yet).
	notAfter       int64
	ready, stalled conditionState
	// resyncAt is when the site's next resync is due, in resync ticks since the records' epoch
	// (0: none scheduled; with resyncTaken set: added to the queue, not yet started). Four bytes in
	// the padding of the record: the record stays 32 bytes.
	resyncAt uint32
}

// conditionState is a condition's status in one byte; conditionAbsent when the site has none.
type conditionState uint8

const (
	conditionAbsent conditionState = iota
	conditionTrue
	conditionFalse
	conditionUnknown
)

var conditionStates = map[metav1.ConditionStatus]conditionState{
	metav1.ConditionTrue: conditionTrue, metav1.ConditionFalse: conditionFalse, metav1.ConditionUnknown: conditionUnknown,
}

func conditionStateOf(conditions []metav1.Condition, typ string) conditionState {
	if c := meta.FindStatusCondition(conditions, typ); c != nil {
		return conditionStates[c.Status]
	}
	return conditionAbsent
}

// recordOf is the record of a site as its last status patch left it.
func recordOf(site *v1alpha1.SecureSite) siteRecord {
	rec := siteRecord{
		written: site.ResourceVersion,
		ready:   conditionStateOf(site.Status.Conditions, v1alpha1.ConditionReady),
		stalled: conditionStateOf(site.Status.Conditions, v1alpha1.ConditionStalled),
	}
	if c := site.Status.Certificate; c != nil && c.NotAfter != nil {
		rec.notAfter = c.NotAfter.Unix()
	}
	return rec
}

// siteRecords holds a record per site this controller reconciled and that still exists: a
// site that is deleted, or leaves this shard, is forgotten at its next pass.
type siteRecords struct {
	mu sync.RWMutex
	m  map[types.NamespacedName]siteRecord
	// epoch is when resync ticks are counted from; nextResync is the earliest resyncAt of any
	// record, or earlier (0: none scheduled).
	epoch      time.Time
	nextResync uint32
}

func (s *siteRecords) store(key types.NamespacedName, rec siteRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[types.NamespacedName]siteRecord{}
	}
	s.m[key] = rec
}

func (s *siteRecords) load(key types.NamespacedName) (siteRecord, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	rec, ok := s.m[key]
	return rec, ok
}

func (s *siteRecords) remove(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

// keyedRecord is a record with its site's key.
type keyedRecord struct {
	key types.NamespacedName
	rec siteRecord
}

// list copies the records out, so a slow reader (a scrape) does not hold the lock that every
// pass's status patch takes.
func (s *siteRecords) list() []keyedRecord {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]keyedRecord, 0, len(s.m))
	for k, rec := range s.m {
		out = append(out, keyedRecord{k, rec})
	}
	return out
}
