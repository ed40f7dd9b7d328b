package acme

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/challenge/dns01"
)

// PropagationWaiter is a ChallengeDNS that can tell when a written TXT value is on every
// authoritative name server (Route53: the change is INSYNC). The propagation wait then ends
// with one DNS check instead of polling from a fixed first delay.
type PropagationWaiter interface {
	WaitPropagated(ctx context.Context, fqdn, value string) error
}

// firstLook is lego's sleep before its first propagation check when the DNS layer says when the
// record is in place: the wait is done by WaitPropagated, not by sleeping.
const firstLook = 10 * time.Millisecond

// firstRecheck is the wait before checking again after a failed check: for the first half
// second, then doubling up to the poll interval. Once the change is INSYNC a miss is a resolver
// or cache lagging by moments, and a check is one DNS query to a name server (no API quota), so
// the rechecks come soon: 100 ms five times, then 200 ms, 400 ms, … A value served 0.25 s after
// the first miss was seen only at 0.4 s when the gaps doubled from the third on; the second check
// of a value that is not served at once cost 250 ms before that.
const firstRecheck = 100 * time.Millisecond

// steadyRechecks is how many rechecks come firstRecheck apart before the gap doubles.
const steadyRechecks = 5

// recheckGap is the wait before the next check after n failed ones (n ≥ 1).
func recheckGap(n int, interval time.Duration) time.Duration {
	return min(firstRecheck<<min(max(n-steadyRechecks, 0), 8), interval)
}

// propagationCheck wraps lego's DNS check: wait for the write to be in sync, then check once; a
// check that fails is repeated every 100 ms for half a second, then after 200 ms, 400 ms, … up to
// every interval (lego calls the wrapper every firstLook).
type propagationCheck struct {
	waiter   PropagationWaiter
	interval time.Duration

	mu    sync.Mutex
	tries map[string]checkTries // fqdn|value → checks so far
}

type checkTries struct {
	last time.Time
	n    int
}

// check is the wrapper lego calls. lego's wait loop does not watch the context: it calls the check every firstLook until the
// check says stop or the propagation timeout passes. So once the order's context has ended
// (shutdown, order timeout) the check says stop, with the context's error; otherwise an order
// caught in this wait held the issuance worker, and the manager's shutdown, for the whole
// propagation timeout.
func (p *propagationCheck) check(ctx context.Context, _, fqdn, value string, check dns01.PreCheckFunc) (bool, error) {
	if err := ctx.Err(); err != nil {
		return true, err
	}
	name := strings.TrimSuffix(fqdn, ".")
	if err := p.waiter.WaitPropagated(ctx, name, value); err != nil {
		return ctx.Err() != nil, err
	}
	key := strings.ToLower(name) + "|" + value
	p.mu.Lock()
	prev := p.tries[key]
	p.mu.Unlock()
	if prev.n > 0 {
		gap := recheckGap(prev.n, p.interval)
		if wait := time.Until(prev.last.Add(gap)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return true, ctx.Err()
			}
		}
	}
	p.mu.Lock()
	p.tries[key] = checkTries{last: time.Now(), n: prev.n + 1}
	p.mu.Unlock()
	ok, err := check(ctx, fqdn, value)
	if ok && err == nil {
		p.mu.Lock()
		delete(p.tries, key)
		p.mu.Unlock()
	}
	return ok, err
}
