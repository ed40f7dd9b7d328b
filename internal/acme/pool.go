package acme

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/challenge/dns01"
	legolog "github.com/go-acme/lego/v5/log"
	"k8s.io/apimachinery/pkg/types"

	"github.com/securesite-io/securesite/internal/certs"
)

// Request is one certificate order for a SecureSite.
type Request struct {
	Site   types.NamespacedName // one order in flight per site
	Names  []string             // the first is the common name; all are SANs
	Key    certs.KeySpec
	Server string // ACME directory URL
	Email  string // account email
	// CABundle is PEM to trust for this server's TLS (the site's class names it); nil uses
	// Options.CABundle.
	CABundle []byte
	Replaces *x509.Certificate // the certificate being renewed, for ARI "replaces" (optional)
	// HostedZoneID is the site's hosted zone: DNS-01 records for names inside it are written
	// there, not in whichever zone of that name a lookup by name finds (optional).
	HostedZoneID string
}

// Result is a finished order.
type Result struct {
	Site    types.NamespacedName
	CertPEM []byte // leaf then chain, as ACME returned it
	KeyPEM  []byte
	// CAPEM is the root of the chain when the CA sent it (the top of the chain is self-signed);
	// ACME normally stops below the root, and then CAPEM is empty rather than guessed.
	CAPEM    []byte
	ARI      *certs.Window // the new certificate's renewal window, when the CA offers ARI
	Err      error
	Finished time.Time
}

// Options configure a Pool.
type Options struct {
	Workers  int    // concurrent orders; default 4
	CABundle []byte // PEM to trust the ACME server; nil uses the system roots
	// Nameservers answer lego's DNS-01 propagation check ("host:port"); empty uses resolv.conf.
	// lego keeps them in a package-wide client, so they apply to the whole process.
	Nameservers []string
	// SkipAuthoritativeNSCheck trusts the recursive nameservers alone. lego also asks each
	// authoritative nameserver of the zone, always on port 53; set this when those are not
	// reachable there (the test world's DNS server listens on a random loopback port).
	SkipAuthoritativeNSCheck bool
	PropagationTimeout       time.Duration // how long to wait for the TXT record; default 2m
	PollInterval             time.Duration // propagation poll interval; default 2s
	OrderTimeout             time.Duration // a whole order, registration to certificate; default 10m
	Accounts                 AccountStore  // nil keeps accounts in memory only
	DNS                      ChallengeDNS
	Notify                   func(types.NamespacedName) // a result is ready; wakes the reconciler (called on a worker: must not block)
	// Logger receives lego's log. lego logs through a package-wide logger, so this applies to the
	// whole process; nil leaves lego's default (text to stdout).
	Logger *slog.Logger
	// Now is the clock for Result.Finished and the CA budgets; default time.Now.
	Now func() time.Time
	// Limits override the CA's budgets for every ACME server; zero fields keep the defaults
	// known for the server (KnownLimits: Let's Encrypt production and staging).
	Limits Limits
	// Ledger keeps the budgets' counts across restarts; nil keeps them in memory only.
	Ledger LedgerStore
}

// Pool runs ACME orders on a bounded set of workers so that reconcile workers never wait for DNS
// propagation or CA validation: the reconciler submits, returns, and is woken by Notify.
type Pool struct {
	opts       Options
	accounts   AccountStore
	httpClient *http.Client
	configErr  error

	ledgerStore LedgerStore
	saveMu      sync.Mutex // one ledger save at a time (persist)
	savedGen    uint64     // the ledgerGen the last save carried (under saveMu)

	mu          sync.Mutex
	queue       []*queued
	seq         uint64
	ledger      Ledger
	ledgerGen   uint64                        // changes made to ledger
	pending     map[types.NamespacedName]bool // queued or in flight
	results     map[types.NamespacedName]*Result
	clients     map[clientKey]*clientEntry
	directories map[string]*api.Core
	httpClients map[string]*http.Client // by CA bundle hash; "" is Options.CABundle's
	wake        chan struct{}
	cleanups    sync.WaitGroup               // challenge record removals still running (solve.go)
	removing    map[types.NamespacedName]int // sites with such a removal running
}

// NewPool builds a pool; it runs orders once Start is called (the manager does, as a Runnable).
// A bad CA bundle or a missing ChallengeDNS is reported by Start and by every Result.
func NewPool(o Options) *Pool {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.PropagationTimeout <= 0 {
		o.PropagationTimeout = 2 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = dns01.DefaultPollingInterval
	}
	if o.OrderTimeout <= 0 {
		o.OrderTimeout = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &Pool{
		opts:        o,
		accounts:    o.Accounts,
		pending:     map[types.NamespacedName]bool{},
		results:     map[types.NamespacedName]*Result{},
		removing:    map[types.NamespacedName]int{},
		clients:     map[clientKey]*clientEntry{},
		directories: map[string]*api.Core{},
		httpClients: map[string]*http.Client{},
		wake:        make(chan struct{}, 1),
		ledger:      newLedger(),
		ledgerStore: o.Ledger,
	}
	if p.ledgerStore == nil {
		p.ledgerStore = &memoryLedger{}
	}
	if p.accounts == nil {
		p.accounts = &memoryAccounts{}
	}
	p.httpClient, p.configErr = newHTTPClient(o.CABundle)
	if p.configErr == nil && o.DNS == nil {
		p.configErr = errors.New("ACME pool needs a ChallengeDNS for DNS-01")
	}
	if len(o.Nameservers) > 0 {
		dns01.SetDefaultClient(dns01.NewClient(&dns01.Options{RecursiveNameservers: o.Nameservers}))
	}
	if o.Logger != nil {
		legolog.SetDefault(o.Logger)
	}
	return p
}

// Start runs the workers until ctx is done; orders in flight are cancelled with it.
func (p *Pool) Start(ctx context.Context) error {
	if p.configErr != nil {
		return p.configErr
	}
	stored, err := p.ledgerStore.Load(ctx)
	if err != nil {
		// Without the ledger, orders sent before a restart would not count: better not start.
		return err
	}
	p.mu.Lock()
	p.ledger.merge(stored, p.opts.Now().Add(-p.longestWindow()))
	p.mu.Unlock()
	var wg sync.WaitGroup
	for range p.opts.Workers {
		wg.Go(func() { p.work(ctx) })
	}
	wg.Wait()
	// Challenge records still being removed (each removal is bounded by cleanupTimeout).
	p.cleanups.Wait()
	return nil
}

// NeedLeaderElection: only the leader issues, or two replicas would order the same certificate.
func (p *Pool) NeedLeaderElection() bool { return true }

// Submit queues an order and returns at once. It returns false, and queues nothing, while an
// order for the same site is queued or in flight, or its result has not been taken yet: the
// caller takes the result first, so a finished certificate is never thrown away for a new order.
func (p *Pool) Submit(req Request) bool {
	p.mu.Lock()
	if p.pending[req.Site] || p.results[req.Site] != nil {
		p.mu.Unlock()
		return false
	}
	p.pending[req.Site] = true
	p.seq++
	q := &queued{req: req, seq: p.seq}
	if req.Replaces != nil {
		q.renewBy = req.Replaces.NotAfter
	}
	p.queue = append(p.queue, q)
	p.mu.Unlock()
	if req.Replaces != nil {
		go p.checkARIExemption(req)
	}
	p.signal()
	return true
}

func (p *Pool) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Result takes the finished result of site's order, if there is one.
func (p *Pool) Result(site types.NamespacedName) (*Result, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.results[site]
	delete(p.results, site)
	return r, ok
}

// Restore puts back a result taken with Result that the caller could not store (e.g. the Secret
// write failed), so the next reconcile uses it instead of ordering again.
func (p *Pool) Restore(res *Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, newer := p.results[res.Site]; !newer {
		p.results[res.Site] = res
	}
}

// InFlight reports whether an order for site is queued or running.
func (p *Pool) InFlight(site types.NamespacedName) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending[site]
}

// RemovingChallenges reports whether the challenge records of the site's last order are still
// being removed: the reconciler then leaves them to that removal instead of racing it.
func (p *Pool) RemovingChallenges(site types.NamespacedName) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.removing[site] > 0
}

// removeLater runs an order's challenge record removal beside the rest of the order, so the
// issuance worker is free once the CA has decided. The site counts as removing until it is done;
// when the removal fails, the site is woken so that its reconciler removes what is left.
func (p *Pool) removeLater(ctx context.Context, remove func() error) {
	site, _ := SiteFromContext(ctx)
	p.mu.Lock()
	p.removing[site]++
	p.mu.Unlock()
	p.cleanups.Go(func() {
		err := remove()
		p.mu.Lock()
		if p.removing[site]--; p.removing[site] <= 0 {
			delete(p.removing, site)
		}
		p.mu.Unlock()
		if err != nil && p.opts.Notify != nil {
			p.opts.Notify(site)
		}
	})
}

func (p *Pool) work(ctx context.Context) {
	for {
		q, sentAt, wakeAt, ok := p.next()
		if !ok {
			if !p.idle(ctx, wakeAt) {
				return
			}
			continue
		}
		// The send is on record before it happens, so a restart cannot forget it.
		if err := p.persist(ctx); err != nil {
			p.requeue(q, sentAt, time.Time{})
			Orders.WithLabelValues(ResultDeferred).Inc()
			select {
			case <-ctx.Done():
				return
			case <-time.After(persistRetry):
			}
			continue
		}
		req := q.req
		res := p.run(ctx, req)
		if p.heldByCA(ctx, q, res) {
			continue
		}
		p.mu.Lock()
		delete(p.pending, req.Site)
		p.results[req.Site] = res
		p.mu.Unlock()
		if p.opts.Notify != nil {
			p.opts.Notify(req.Site)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// heldByCA puts the order back when the CA answered rateLimited: not a failure of the site's
// order; the account waits out the CA's Retry-After, and the order keeps its place in the queue.
func (p *Pool) heldByCA(ctx context.Context, q *queued, res *Result) bool {
	retryAfter, limited := rateLimited(res.Err)
	if !limited || ctx.Err() != nil {
		return false
	}
	if retryAfter <= 0 {
		retryAfter = defaultRetryAfter
	}
	p.requeue(q, time.Time{}, p.opts.Now().Add(retryAfter))
	_ = p.persist(ctx)
	p.signal()
	return true
}

// idle waits for a new order, or until wakeAt when a waiting order may go; false when ctx ended.
func (p *Pool) idle(ctx context.Context, wakeAt time.Time) bool {
	var timer <-chan time.Time
	if !wakeAt.IsZero() {
		timer = time.After(max(wakeAt.Sub(p.opts.Now()), 10*time.Millisecond))
	}
	select {
	case <-ctx.Done():
		return false
	case <-p.wake:
	case <-timer:
	}
	return true
}

// next takes the first order (by priority) that every budget allows now and counts it; else it
// returns when the soonest waiting order may go.
func (p *Pool) next() (q *queued, sentAt, wakeAt time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		OrdersWaiting.Set(0)
		return nil, time.Time{}, time.Time{}, false
	}
	now := p.opts.Now()
	i, waits, wakeAt := p.plan(now)
	OrdersWaiting.Set(float64(len(waits)))
	if i < 0 {
		return nil, time.Time{}, wakeAt, false
	}
	q = p.queue[i]
	p.queue = slices.Delete(p.queue, i, i+1)
	p.reserve(q, now)
	if len(p.queue) > 0 {
		// Submit's wake token woke only this worker; wake another for the rest of the queue.
		p.signal()
	}
	return q, now, time.Time{}, true
}

// requeue puts an order back in its place: its send did not happen (sentAt is taken back) or
// the CA held the account until holdUntil.
func (p *Pool) requeue(q *queued, sentAt, holdUntil time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !sentAt.IsZero() {
		p.unreserve(q, sentAt)
	}
	if !holdUntil.IsZero() {
		acct := accountBudget(q.req.Server, q.req.Email)
		if holdUntil.After(p.ledger.Holds[acct]) {
			p.ledger.Holds[acct] = holdUntil
			p.ledgerGen++
		}
		RateLimitedAnswers.Inc()
	}
	p.queue = append(p.queue, q)
}

func (p *Pool) run(ctx context.Context, req Request) *Result {
	ctx, cancel := context.WithTimeout(ctx, p.opts.OrderTimeout)
	defer cancel()
	res := p.issue(WithHostedZone(WithSite(ctx, req.Site), req.HostedZoneID), req)
	res.Site = req.Site
	res.Finished = p.opts.Now()
	if _, limited := rateLimited(res.Err); limited {
		Orders.WithLabelValues(ResultRateLimited).Inc()
	} else if res.Err != nil {
		Orders.WithLabelValues(ResultFailed).Inc()
	} else {
		Orders.WithLabelValues(ResultIssued).Inc()
	}
	return res
}
