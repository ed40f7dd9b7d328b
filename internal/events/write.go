package events

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// As client-go: an Event the API server cannot be reached for is tried again, 12 times at most.
const (
	maxTries   = 12
	retryAfter = 10 * time.Second
)

// Start writes queued Events until ctx ends (a manager Runnable; every replica records its own).
func (r *Recorder) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-r.queue:
					r.write(ctx, ev)
				}
			}
		})
	}
	tick := time.NewTicker(seriesWindow)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
			r.expire()
		}
	}
}

// NeedLeaderElection is false: a replica that is not the leader records nothing anyway.
func (r *Recorder) NeedLeaderElection() bool { return false }

func (r *Recorder) write(ctx context.Context, ev *eventsv1.Event) {
	for try := 1; ; try++ {
		err := r.writeOnce(ctx, ev)
		if err == nil {
			return
		}
		var status apierrors.APIStatus
		if errors.As(err, &status) && (!apierrors.IsAlreadyExists(err) || ev.Series == nil) {
			// Refused by the API server: written the same way again it would be refused again.
			// (AlreadyExists for a series: the first Event was being created at the same time.)
			r.log.V(2).Info("Server rejected event (will not retry!)", "reason", ev.Reason, "regarding", ev.Regarding.Name, "err", err.Error())
			return
		}
		if try >= maxTries {
			r.log.Error(err, "Unable to write event (retry limit exceeded!)", "reason", ev.Reason, "regarding", ev.Regarding.Name)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryAfter):
		}
	}
}

// writeOnce creates the Event, or patches the series onto the first Event of a series (creating
// it when it is gone).
func (r *Recorder) writeOnce(ctx context.Context, ev *eventsv1.Event) error {
	api := r.client.Events(ev.Namespace)
	if ev.Series != nil {
		patch, err := json.Marshal(map[string]any{"series": ev.Series})
		if err != nil {
			return nil //nolint:nilerr // cannot happen for this type; nothing to retry
		}
		_, err = api.Patch(ctx, ev.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if !apierrors.IsNotFound(err) {
			return err
		}
	}
	ev.ResourceVersion = ""
	_, err := api.Create(ctx, ev, metav1.CreateOptions{})
	return err
}
