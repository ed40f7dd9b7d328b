package records

import (
	"context"
	"strings"
	"sync"
	"time"
)

// inSyncPoll is how often a change is polled while something waits for it. AWS documents that
// changes usually reach every Route53 name server within 60 seconds.
const inSyncPoll = 2 * time.Second

// inSyncWaitLimit bounds one change's poll loop.
const inSyncWaitLimit = 10 * time.Minute

// insyncKeep is how long a change seen INSYNC is remembered. Every site whose status names the
// change polls it again within a requeue or two; after that it is forgotten, so the memory holds
// the changes of the last minutes, not one entry per change the process ever made. A poll of a
// forgotten change asks Route53 once more and gets the same answer.
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

type inSyncWaiter struct {
	done chan struct{}
	err  error
}

// WaitInSync blocks until the change is INSYNC (on every Route53 name server) or ctx ends. All
// waiters of one change share one poll loop: many challenges written in one batch cost one
// GetChange per poll, not one each.
func (s *Service) WaitInSync(ctx context.Context, changeID string) error {
	id := strings.TrimPrefix(changeID, "/change/")
	if id == "" || s.insync.has(id, s.now()) {
		return nil
	}
	w := &inSyncWaiter{done: make(chan struct{})}
	if prev, loaded := s.waiters.LoadOrStore(id, w); loaded {
		w = prev.(*inSyncWaiter)
	} else {
		go s.pollInSync(id, w)
	}
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) pollInSync(id string, w *inSyncWaiter) {
	ctx, cancel := context.WithTimeout(context.Background(), inSyncWaitLimit)
	defer cancel()
	defer s.waiters.Delete(id)
	defer close(w.done)
	for {
		done, err := s.ChangeInSync(ctx, id)
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
