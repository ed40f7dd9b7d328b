package acme

import (
	"context"
	"errors"
	"slices"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"k8s.io/apimachinery/pkg/types"
)

// The issuance pool schedules orders within the CA's budgets instead of discovering them by
// failing: each queued order gets the time its turn is expected (renewals by urgency first, then
// new certificates in arrival order), a worker takes an order only when every budget it counts
// against has room, and the send times are kept in a ledger that survives restarts.

// defaultRetryAfter is the hold after a rateLimited answer without Retry-After.
const defaultRetryAfter = time.Hour

// persistRetry is how long an order waits when the ledger could not be saved.
const persistRetry = 5 * time.Second

// queued is an order waiting for a worker.
type queued struct {
	req Request
	seq uint64 // arrival order
	// renewBy is when the certificate being renewed expires (zero for a new certificate).
	renewBy time.Time
	// exempt: a renewal inside the CA's ARI window, which Let's Encrypt does not count.
	exempt bool
}

// Wait says why an order is not sent yet and when its turn is expected.
type Wait struct {
	Until  time.Time
	Reason string
}

// less orders the queue: renewals before new certificates, the sooner expiry first; then
// arrival.
func (q *queued) less(o *queued) bool {
	switch {
	case !q.renewBy.IsZero() && o.renewBy.IsZero():
		return true
	case q.renewBy.IsZero() && !o.renewBy.IsZero():
		return false
	case !q.renewBy.Equal(o.renewBy):
		return q.renewBy.Before(o.renewBy)
	}
	return q.seq < o.seq
}

// budgetsOf lists the budgets an order counts against with their limits.
func (p *Pool) budgetsOf(req Request) []budget {
	l := p.limitsFor(req.Server)
	out := []budget{{accountBudget(req.Server, req.Email), l.OrdersPerAccount, "new orders per ACME account"}}
	if l.CertificatesPerDomain.Count > 0 {
		for _, d := range registeredDomains(req.Names) {
			out = append(out, budget{domainBudget(req.Server, d), l.CertificatesPerDomain, "new certificates for " + d})
		}
	}
	if l.DuplicateCertificates.Count > 0 {
		out = append(out, budget{duplicateBudget(req.Server, req.Names), l.DuplicateCertificates,
			"certificates for exactly these names (" + nameSet(req.Names) + ")"})
	}
	return out
}

type budget struct {
	key   string
	limit Limit
	what  string
}

// plan decides, at now, when each queued order may be sent. Orders are taken in priority
// order, and each one's send time is counted against its budgets before the next is planned,
// so a waiting renewal keeps its place ahead of new certificates. It returns the index of the
// first order that may go now (-1: none), the waits of the others, and the soonest of them.
func (p *Pool) plan(now time.Time) (runnable int, waits map[types.NamespacedName]Wait, next time.Time) {
	sim := map[string][]time.Time{}
	counted := func(key string) []time.Time {
		if ts, ok := sim[key]; ok {
			return ts
		}
		return p.ledger.Orders[key]
	}
	runnable = -1
	waits = map[types.NamespacedName]Wait{}
	for _, i := range p.priorityOrder() {
		q := p.queue[i]
		budgets := p.budgetsOf(q.req)
		at, why := p.sendTime(q, budgets, now, counted)
		if !q.exempt {
			for _, b := range budgets {
				if b.limit.Count > 0 {
					sim[b.key] = insertTime(counted(b.key), at)
				}
			}
		}
		if !at.After(now) {
			if runnable < 0 {
				runnable = i
			}
			continue
		}
		waits[q.req.Site] = Wait{Until: at, Reason: why}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return runnable, waits, next
}

// priorityOrder lists the queue's indexes in priority order.
func (p *Pool) priorityOrder() []int {
	order := make([]int, len(p.queue))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if p.queue[a].less(p.queue[b]) {
			return -1
		}
		return 1
	})
	return order
}

// sendTime is the earliest q may be sent, at or after now, and why not sooner: the account's
// hold after a rateLimited answer, then every budget q counts against (sends already planned
// included, through counted).
func (p *Pool) sendTime(q *queued, budgets []budget, now time.Time, counted func(string) []time.Time) (time.Time, string) {
	at, why := now, ""
	acct := accountBudget(q.req.Server, q.req.Email)
	if hold := p.ledger.Holds[acct]; hold.After(at) {
		at, why = hold, "the CA answered rateLimited; its Retry-After"
	}
	if q.exempt {
		return at, why
	}
	// Each budget may push the time later, which can matter to another: settle.
	for range 4 {
		moved := false
		for _, b := range budgets {
			if t := earliest(counted(b.key), b.limit, at); t.After(at) {
				at, why, moved = t, "CA rate limit: "+b.limit.String()+" "+b.what, true
			}
		}
		if !moved {
			break
		}
	}
	return at, why
}

// reserve counts a send of q at now in the ledger; unreserve takes it back.
func (p *Pool) reserve(q *queued, now time.Time) {
	if q.exempt {
		return
	}
	for _, b := range p.budgetsOf(q.req) {
		p.ledger.Orders[b.key] = insertTime(p.ledger.Orders[b.key], now)
	}
	p.ledgerGen++
}

func (p *Pool) unreserve(q *queued, at time.Time) {
	if q.exempt {
		return
	}
	for _, b := range p.budgetsOf(q.req) {
		p.ledger.Orders[b.key] = removeTime(p.ledger.Orders[b.key], at)
	}
	p.ledgerGen++
}

// Waiting reports whether site's order is queued behind a CA budget or a Retry-After, and
// until when.
func (p *Pool) Waiting(site types.NamespacedName) (Wait, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.ContainsFunc(p.queue, func(q *queued) bool { return q.req.Site == site }) {
		return Wait{}, false
	}
	_, waits, _ := p.plan(p.opts.Now())
	w, ok := waits[site]
	return w, ok
}

// persist saves the ledger (merging what other replicas or shards added). Saves are a group
// commit: the workers that reserved a send while another save ran share the next save, and a
// worker whose reservation a save already carried (it began after the reservation) returns at
// once. Every send is still on record before it happens.
func (p *Pool) persist(ctx context.Context) error {
	p.mu.Lock()
	want := p.ledgerGen
	p.mu.Unlock()
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	if p.savedGen >= want {
		return nil
	}
	p.mu.Lock()
	l, gen := p.ledger.clone(), p.ledgerGen
	p.mu.Unlock()
	merged, err := p.ledgerStore.Save(ctx, l)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.ledger.merge(merged, p.opts.Now().Add(-p.longestWindow()))
	p.mu.Unlock()
	p.savedGen = gen
	return nil
}

// longestWindow is how far back the ledger must remember.
func (p *Pool) longestWindow() time.Duration { return LedgerKeep(p.opts.Limits) }

// LedgerKeep is how far back a ledger must remember with these overrides: the longest window
// of any budget in use.
func LedgerKeep(overrides Limits) time.Duration {
	w := time.Duration(0)
	for _, l := range KnownLimits {
		w = max(w, l.OrdersPerAccount.Window, l.CertificatesPerDomain.Window, l.DuplicateCertificates.Window)
	}
	return max(w, overrides.OrdersPerAccount.Window, overrides.CertificatesPerDomain.Window, overrides.DuplicateCertificates.Window)
}

// rateLimited reports the CA's rateLimited answer and its Retry-After.
func rateLimited(err error) (time.Duration, bool) {
	var rl *legoacme.RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	if isProblem(err, legoacme.RateLimitedErrorType) {
		return 0, true
	}
	return 0, false
}

// checkARIExemption asks the CA whether a renewal is inside its ARI window (then Let's Encrypt
// does not count it) and marks the queued order.
func (p *Pool) checkARIExemption(req Request) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := p.RenewalInfo(ctx, req.Replaces, req.Server)
	if err != nil || w == nil || p.opts.Now().Before(w.Start) {
		return
	}
	p.mu.Lock()
	for _, q := range p.queue {
		if q.req.Site == req.Site {
			q.exempt = true
		}
	}
	p.mu.Unlock()
	p.signal()
}
