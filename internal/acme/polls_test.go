package acme

import (
	"context"
	"errors"
	"testing"
	"time"
)

// looksWithin returns when the CA is asked about a challenge, up to the given time (no
// Retry-After), and when the propagation of a record is checked again after misses.
func looksWithin(limit time.Duration) []time.Duration {
	var at []time.Duration
	wait, t := firstValidationPoll, time.Duration(0)
	for {
		if t += wait; t > limit {
			return at
		}
		at = append(at, t)
		wait = nextValidationPoll(wait)
	}
}

// TestValidationLooksAreEarlyAndBounded: the CA is first asked 0.05 s after the challenge is
// accepted and again 0.1 s later (a CA that validates within tens of milliseconds is not waited
// on for a tenth of a second), then less and less often: a Let's Encrypt validation of 1–2 s
// costs 5–6 looks, and a name at most 10 in its first 30 s and one per 8 s after that.
func TestValidationLooksAreEarlyAndBounded(t *testing.T) {
	at := looksWithin(30 * time.Second)
	t.Logf("looks within 30 s: %v", at)
	if len(at) < 2 || at[0] != 50*time.Millisecond || at[1] != 150*time.Millisecond {
		t.Errorf("first looks at %v, want 50ms and 150ms", at[:min(2, len(at))])
	}
	if len(at) > 10 {
		t.Errorf("%d looks within 30 s, want at most 10", len(at))
	}
	if n := len(looksWithin(2 * time.Second)); n < 5 || n > 6 {
		t.Errorf("%d looks within 2 s, want 5 or 6", n)
	}
	if n := len(looksWithin(validationTimeout)) - len(at); n > int((validationTimeout-30*time.Second)/maxValidationPoll)+1 {
		t.Errorf("%d looks after the first 30 s, want at most one per %s", n, maxValidationPoll)
	}
}

// TestPropagationRechecks: after a check that misses (the change is INSYNC, a server or cache in
// the way lags), the next five come 100 ms apart, then the gap doubles up to the poll interval.
func TestPropagationRechecks(t *testing.T) {
	var gaps []time.Duration
	for n := 1; n <= 9; n++ {
		gaps = append(gaps, recheckGap(n, time.Second))
	}
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 100 * ms, 100 * ms, 100 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second}
	for i := range want {
		if gaps[i] != want[i] {
			t.Fatalf("gaps after 1…6 misses %v, want %v", gaps, want)
		}
	}
}

// stuckWaiter is a PropagationWaiter whose change never syncs: it waits for the context.
type stuckWaiter struct{}

func (stuckWaiter) WaitPropagated(ctx context.Context, _, _ string) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestPropagationCheckStopsWithTheOrder: once the order's context has ended, the check tells
// lego's wait loop to stop (lego's loop does not watch the context and would otherwise call it
// again every 10 ms until the propagation timeout, holding the issuance worker and the manager's
// shutdown), whether the context ended during the INSYNC wait, during a recheck's pause, or before.
func TestPropagationCheckStopsWithTheOrder(t *testing.T) {
	never := func(context.Context, string, string) (bool, error) { return false, nil }
	for _, tc := range []struct {
		name   string
		waiter PropagationWaiter
		tries  int
	}{
		{"ended during the INSYNC wait", stuckWaiter{}, 0},
		{"ended during a recheck's pause", nearWaiter{}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &propagationCheck{waiter: tc.waiter, interval: time.Minute, tries: map[string]checkTries{}}
			if tc.tries > 0 {
				p.tries["_acme-challenge.a.test|v"] = checkTries{last: time.Now(), n: 8}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			stop, err := p.check(ctx, "", "_acme-challenge.a.test.", "v", never)
			if !stop || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("check after the order's context ended: stop %v, err %v; want stop with the context's error", stop, err)
			}
			stop, err = p.check(ctx, "", "_acme-challenge.a.test.", "v", never)
			if !stop || err == nil {
				t.Fatalf("next call: stop %v, err %v; want stop at once", stop, err)
			}
		})
	}
}

// nearWaiter is a PropagationWaiter whose changes are in sync.
type nearWaiter struct{}

func (nearWaiter) WaitPropagated(context.Context, string, string) error { return nil }
