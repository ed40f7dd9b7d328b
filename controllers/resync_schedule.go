package controllers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
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

// takeDue returns the sites whose resync is due at now and unschedules them: each is added to
// the queue once, and its pass schedules the next.
func (s *siteRecords) takeDue(now time.Time) []types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nextResync == 0 {
		return nil
	}
	tick := uint32(now.Sub(s.epoch)/resyncTick) + 1
	if tick < s.nextResync {
		return nil
	}
	var due []types.NamespacedName
	next := uint32(0)
	for key, rec := range s.m {
		switch {
		case rec.resyncAt == 0:
		case rec.resyncAt <= tick:
			due = append(due, key)
			rec.resyncAt = 0
			s.m[key] = rec
		case next == 0 || rec.resyncAt < next:
			next = rec.resyncAt
		}
	}
	s.nextResync = next
	return due
}

// resyncSource adds the sites whose resync is due to the controller's queue, checking every tick.
// It runs with the controller (on the leader), from the records of the passes it ran.
func (r *SecureSiteReconciler) resyncSource() source.TypedSource[reconcile.Request] {
	return source.TypedFunc[reconcile.Request](func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		go func() {
			t := time.NewTicker(resyncTick)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-t.C:
					for _, key := range r.sites.takeDue(now) {
						q.Add(reconcile.Request{NamespacedName: key})
					}
				}
			}
		}()
		r.resyncScheduled.Store(true)
		return nil
	})
}
