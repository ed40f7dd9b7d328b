package records

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// inSyncPoll is how often a zone's changes are polled while something waits for them. AWS
// documents that changes usually reach every Route53 name server within 60 seconds.
const inSyncPoll = 2 * time.Second

// inSyncWaitLimit bounds one wait for a change.
const inSyncWaitLimit = 10 * time.Minute

// pollRate bounds the GetChange calls of the wait loops, all zones together, per second. Route53
// allows five API requests per second per AWS account, all calls together (Route53 Developer
// Guide, "Quotas on API requests"); Options.ChangeRate leaves one of them to the reads, and the
// polls take at most that one. With many zones waiting at once each zone is polled less often,
// never the account throttled.
const pollRate = 1

// insyncKeep is how long a change seen INSYNC is remembered. Every site whose status names the
// change polls it again within a requeue or two; after that it is forgotten, so the memory holds
// the changes of the last minutes, not one entry per change the process ever made. A poll of a
// forgotten change asks Route53 once more and gets the same answer. Changes sent are remembered
// (with their zone) as long.
const insyncKeep = 10 * time.Minute

// seenChanges is the set of changes seen INSYNC within insyncKeep.
type seenChanges struct {
	mu    sync.Mutex
	at    map[string]time.Time // change ID → when it was seen INSYNC
	swept time.Time
}

func (c *seenChanges) add(id string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at == nil {
		c.at = map[string]time.Time{}
	}
	c.at[id] = now
	// Sweeping at most every half keep bounds the set to the changes of one and a half keeps,
	// at a cost spread over the adds.
	if now.Sub(c.swept) < insyncKeep/2 {
		return
	}
	c.swept = now
	for k, at := range c.at {
		if now.Sub(at) >= insyncKeep {
			delete(c.at, k)
		}
	}
}

func (c *seenChanges) has(id string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.at[id]
	return ok && now.Sub(at) < insyncKeep
}

func (c *seenChanges) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.at)
}

// sentChange is a change this process sent: its zone and its place in the order of the sends
// (sends to one zone are serialized, batch.go, so a higher seq in a zone is a later change).
type sentChange struct {
	zone string
	seq  uint64
	at   time.Time
}

// sentChanges are the changes sent within insyncKeep and not yet seen INSYNC.
type sentChanges struct {
	mu    sync.Mutex
	seq   uint64
	byID  map[string]sentChange
	swept time.Time
}

func (c *sentChanges) add(id, zone string, now time.Time) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = map[string]sentChange{}
	}
	c.seq++
	c.byID[id] = sentChange{zone: zone, seq: c.seq, at: now}
	if now.Sub(c.swept) >= insyncKeep/2 {
		c.swept = now
		for k, sc := range c.byID {
			if now.Sub(sc.at) >= insyncKeep {
				delete(c.byID, k)
			}
		}
	}
	return c.seq
}

func (c *sentChanges) get(id string) (sentChange, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sc, ok := c.byID[id]
	return sc, ok
}

// syncedUpTo forgets the changes of zone sent up to seq and returns their IDs.
func (c *sentChanges) syncedUpTo(zone string, seq uint64) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id, sc := range c.byID {
		if sc.zone == zone && sc.seq <= seq {
			ids = append(ids, id)
			delete(c.byID, id)
		}
	}
	return ids
}

type inSyncWaiter struct {
	done chan struct{}
	err  error

	id       string    // zone waits: the change
	seq      uint64    // zone waits: its place in the zone's order
	deadline time.Time // zone waits: when the wait gives up (inSyncWaitLimit)
}

// zoneWaits are the waiters of one zone's changes; one poll loop serves them all.
type zoneWaits struct {
	waiters map[string]*inSyncWaiter // change ID → waiter
	target  *inSyncWaiter            // the change polled until it is INSYNC
	lastErr error
}

// WaitInSync blocks until the change is INSYNC (on every Route53 name server) or ctx ends.
//
// The changes this process sent are waited for per hosted zone: each interval the zone's loop
// polls only the newest change waited for, and when that one is INSYNC so is every change sent to
// the zone before it (Route53 applies a zone's change batches in order). A hundred challenges
// pending in a zone cost one GetChange per interval, not a hundred. A change the process did not
// send (one named in a status written before a restart) has a loop of its own; waiters of one
// change share it.
func (s *Service) WaitInSync(ctx context.Context, changeID string) error {
	id := strings.TrimPrefix(changeID, "/change/")
	if id == "" || s.insync.has(id, s.now()) {
		return nil
	}
	var w *inSyncWaiter
	if sc, known := s.sent.get(id); known {
		w = s.zoneWaiter(id, sc)
	} else {
		w = &inSyncWaiter{done: make(chan struct{})}
		if prev, loaded := s.waiters.LoadOrStore(id, w); loaded {
			w = prev.(*inSyncWaiter)
		} else {
			go s.pollInSync(id, w)
		}
	}
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// zoneWaiter returns the waiter of a change this process sent, starting its zone's poll loop if
// none runs.
func (s *Service) zoneWaiter(id string, sc sentChange) *inSyncWaiter {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	if s.zoneWaits == nil {
		s.zoneWaits = map[string]*zoneWaits{}
	}
	zw := s.zoneWaits[sc.zone]
	if zw == nil {
		zw = &zoneWaits{waiters: map[string]*inSyncWaiter{}}
		s.zoneWaits[sc.zone] = zw
		go s.pollZone(sc.zone, zw)
	}
	w := zw.waiters[id]
	if w == nil {
		w = &inSyncWaiter{done: make(chan struct{}), id: id, seq: sc.seq, deadline: time.Now().Add(inSyncWaitLimit)}
		zw.waiters[id] = w
	}
	return w
}

// pollZone polls a zone's newest waited change every inSyncPoll until no waiter is left.
func (s *Service) pollZone(zone string, zw *zoneWaits) {
	for {
		target := s.nextTarget(zone, zw)
		if target == nil {
			return
		}
		ctx, cancel := context.WithDeadline(context.Background(), target.deadline)
		done, err := s.pollChange(ctx, target.id)
		cancel()
		if done {
			s.zoneSyncedUpTo(zone, target.seq)
			continue
		}
		if err != nil {
			s.waitMu.Lock()
			zw.lastErr = err
			s.waitMu.Unlock()
		}
		time.Sleep(inSyncPoll)
	}
}

// nextTarget wakes the zone's waiters whose change is known INSYNC or whose wait is over, and
// returns the change to poll, or nil (and ends the zone's loop) when no waiter is left. The target
// is kept until it is INSYNC: were it the newest waiter at every poll, changes sent faster than
// they sync would keep every waiter waiting. A waiter therefore waits at most for the change that
// was newest when its turn came.
func (s *Service) nextTarget(zone string, zw *zoneWaits) *inSyncWaiter {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	var target *inSyncWaiter
	s.wakeDone(zw)
	for _, w := range zw.waiters {
		if w == zw.target {
			return w
		}
		if target == nil || w.seq > target.seq {
			target = w
		}
	}
	zw.target = target
	if target == nil {
		delete(s.zoneWaits, zone)
	}
	return target
}

// wakeDone wakes the zone's waiters whose change is known INSYNC or whose wait is over. s.waitMu
// is held.
func (s *Service) wakeDone(zw *zoneWaits) {
	for id, w := range zw.waiters {
		switch {
		case s.insync.has(id, s.now()):
		case time.Now().After(w.deadline):
			w.err = fmt.Errorf("waiting for Route53 change %s: %w", id, context.DeadlineExceeded)
			if zw.lastErr != nil {
				w.err = fmt.Errorf("waiting for Route53 change %s: %w", id, zw.lastErr)
			}
		default:
			continue
		}
		delete(zw.waiters, id)
		close(w.done)
	}
}

// zoneSyncedUpTo records that every change sent to the zone up to seq is INSYNC, so that their
// waiters wake and later polls of them (ChangeInSync) cost nothing.
func (s *Service) zoneSyncedUpTo(zone string, seq uint64) {
	now := s.now()
	for _, id := range s.sent.syncedUpTo(zone, seq) {
		s.insync.add(id, now)
	}
}

// pollChange asks Route53 whether the change is INSYNC, in its turn of the account's poll rate.
func (s *Service) pollChange(ctx context.Context, id string) (bool, error) {
	if s.insync.has(id, s.now()) {
		return true, nil
	}
	if err := s.pollRate.Wait(ctx); err != nil {
		return false, err
	}
	return s.ChangeInSync(ctx, id)
}

func (s *Service) pollInSync(id string, w *inSyncWaiter) {
	ctx, cancel := context.WithTimeout(context.Background(), inSyncWaitLimit)
	defer cancel()
	defer s.waiters.Delete(id)
	defer close(w.done)
	for {
		done, err := s.pollChange(ctx, id)
		if done {
			return
		}
		if err != nil && ctx.Err() != nil {
			w.err = err
			return
		}
		select {
		case <-time.After(inSyncPoll):
		case <-ctx.Done():
			w.err = ctx.Err()
			return
		}
	}
}

// recordSent remembers a change sent to a zone, for the zone's waits; one INSYNC at once makes
// the zone's earlier changes INSYNC too.
func (s *Service) recordSent(zone, id string, insync bool) {
	if id == "" {
		return
	}
	seq := s.sent.add(id, zone, s.now())
	if insync {
		s.zoneSyncedUpTo(zone, seq)
	}
}
