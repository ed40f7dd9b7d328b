package records

import (
	"context"
	"strings"
	"time"
)

// inSyncPoll is how often a change is polled while something waits for it. AWS documents that
// changes usually reach every Route53 name server within 60 seconds.
const inSyncPoll = 2 * time.Second

// inSyncWaitLimit bounds one change's poll loop.
const inSyncWaitLimit = 10 * time.Minute

type inSyncWaiter struct {
	done chan struct{}
	err  error
}

// WaitInSync blocks until the change is INSYNC (on every Route53 name server) or ctx ends. All
// waiters of one change share one poll loop: many challenges written in one batch cost one
// GetChange per poll, not one each.
func (s *Service) WaitInSync(ctx context.Context, changeID string) error {
	id := strings.TrimPrefix(changeID, "/change/")
	if _, ok := s.insync.Load(id); ok || id == "" {
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
