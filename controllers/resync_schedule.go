package controllers

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// The resync schedule. Every site is looked at again each resync period. Left in the work queue,
// each idle site was a waiting queue item for the whole period (its entry, its node in the
// queue's wait tree, its ready time): at 10,000 sites about a megabyte held for nothing. The
// schedule keeps a site's next resync in four bytes of the record the controller keeps of it
// anyway, and adds the site to the queue when it is due. Shorter waits (DNS propagation,
// CloudFront deployment) stay in the queue.

// resyncTick is the schedule's resolution: a resync is due at most this late.
const resyncTick = time.Second

// resyncTaken marks a record whose resync the schedule has added to the queue: resyncAt keeps the
// tick the resync came due in, so the pass that starts it can tell how late it is (see
// resyncStarted), in the record's four bytes rather than anything per site.
const resyncTaken uint32 = 1 << 31

// resyncLateness says whether resyncs keep to the resync period: a resync that starts late,
// because the workers are busy or the schedule held it back, stretches the period for that site.
var resyncLateness = prometheus.NewHistogram(prometheus.HistogramOpts{
	Name: "securesite_resync_lateness_seconds",
	Help: "How long after it came due each scheduled resync started (counted from the start of the schedule's one-second tick it came due in).",
	// Fine below five seconds, where an on-time resync lands, coarse up to the 10-minute period.
	Buckets: []float64{0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600},
})

func init() {
	ctrlmetrics.Registry.MustRegister(resyncLateness)
}

// scheduleResync sets when the site's next resync is due (after from now). It is false when the
// controller keeps no record of the site; the caller then requeues it as any other wait.
func (s *siteRecords) scheduleResync(key types.NamespacedName, after time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.m[key]
	if !ok {
		return false
	}
	if s.epoch.IsZero() {
		s.epoch = time.Now()
	}
	// Rounded up to the next tick, and never 0 (none scheduled).
	rec.resyncAt = uint32((time.Since(s.epoch)+after)/resyncTick) + 1
	s.m[key] = rec
	if s.nextResync == 0 || rec.resyncAt < s.nextResync {
		s.nextResync = rec.resyncAt
	}
	return true
}

// takeDue returns up to limit of the sites whose resync is due at now, the longest due first, and
// marks them taken: each is added to the queue once, and its pass schedules the next. Sites left
// over stay due, for the next call; none waits behind a site that came due after it.
func (s *siteRecords) takeDue(now time.Time, limit int) []types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nextResync == 0 || limit <= 0 {
		return nil
	}
	tick := uint32(now.Sub(s.epoch)/resyncTick) + 1
	if tick < s.nextResync {
		return nil
	}
	due := longestDue{limit: limit}
	next := uint32(0)
	later := func(at uint32) {
		if next == 0 || at < next {
			next = at
		}
	}
	for key, rec := range s.m {
		switch {
		case rec.resyncAt == 0 || rec.resyncAt&resyncTaken != 0:
		case rec.resyncAt <= tick:
			if left, ok := due.offer(key, rec.resyncAt); ok {
				later(left)
			}
		default:
			later(rec.resyncAt)
		}
	}
	s.nextResync = next
	out := due.sorted()
	for _, key := range out {
		rec := s.m[key]
		rec.resyncAt |= resyncTaken
		s.m[key] = rec
	}
	return out
}

// resyncStarted is called as a pass of the site starts: if the schedule took the site's resync, it
// returns how late the resync starts (from the start of the tick it came due in, so up to one tick
// more than the exact lateness) and clears the mark.
func (s *siteRecords) resyncStarted(key types.NamespacedName, now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.m[key]
	if !ok || rec.resyncAt&resyncTaken == 0 {
		return 0, false
	}
	dueTick := rec.resyncAt &^ resyncTaken
	rec.resyncAt = 0
	s.m[key] = rec
	due := s.epoch.Add(time.Duration(dueTick-1) * resyncTick)
	return max(0, now.Sub(due)), true
}

// observeResyncStart records the lateness of the site's resync, if this pass starts one.
func (r *SecureSiteReconciler) observeResyncStart(key types.NamespacedName) {
	if late, ok := r.sites.resyncStarted(key, time.Now()); ok {
		resyncLateness.Observe(late.Seconds())
	}
}

// longestDue keeps the limit sites due longest of those offered: a max-heap on resyncAt, so the
// most recently due of those kept is the one a longer-due site displaces.
type longestDue struct {
	limit int
	heap  []dueSite
}

type dueSite struct {
	key types.NamespacedName
	at  uint32
}

// offer keeps the site if it is among the limit due longest so far; it returns the resyncAt of
// the site left over (this one, or the one it displaced), if any.
func (d *longestDue) offer(key types.NamespacedName, at uint32) (uint32, bool) {
	if len(d.heap) < d.limit {
		d.heap = append(d.heap, dueSite{key, at})
		d.up(len(d.heap) - 1)
		return 0, false
	}
	if at >= d.heap[0].at {
		return at, true
	}
	left := d.heap[0].at
	d.heap[0] = dueSite{key, at}
	d.down(0)
	return left, true
}

func (d *longestDue) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if d.heap[parent].at >= d.heap[i].at {
			return
		}
		d.heap[parent], d.heap[i] = d.heap[i], d.heap[parent]
		i = parent
	}
}

func (d *longestDue) down(i int) {
	for {
		largest := i
		for _, c := range []int{2*i + 1, 2*i + 2} {
			if c < len(d.heap) && d.heap[c].at > d.heap[largest].at {
				largest = c
			}
		}
		if largest == i {
			return
		}
		d.heap[largest], d.heap[i] = d.heap[i], d.heap[largest]
		i = largest
	}
}

// sorted is the kept sites' keys, the longest due first.
func (d *longestDue) sorted() []types.NamespacedName {
	slices.SortFunc(d.heap, func(a, b dueSite) int { return cmp.Compare(a.at, b.at) })
	out := make([]types.NamespacedName, len(d.heap))
	for i, s := range d.heap {
		out[i] = s.key
	}
	return out
}

// resyncSource adds the sites whose resync is due to the controller's queue as bulk work, no
// more at a time than the queue's working set has room for (see admissionQueue): the rest stay
// due in their records, which cost nothing extra, and are taken as passes end. It runs with the
// controller (on the leader), from the records of the passes it ran.
func (r *SecureSiteReconciler) resyncSource() source.TypedSource[reconcile.Request] {
	return source.TypedFunc[reconcile.Request](func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		room, freed := func() int { return math.MaxInt }, (<-chan struct{})(nil)
		if aq, ok := q.(*admissionQueue); ok {
			room, freed = aq.room, aq.freed
		}
		go func() {
			t := time.NewTicker(resyncTick)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				case <-freed:
				}
				for _, key := range r.sites.takeDue(time.Now(), room()) {
					addAtLowPriority(q, reconcile.Request{NamespacedName: key})
				}
			}
		}()
		r.resyncScheduled.Store(true)
		return nil
	})
}
