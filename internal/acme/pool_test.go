package acme_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/certs"
)

const email = "ops@securesite.test"

// harness runs a Pool against the test world and collects Notify calls.
type harness struct {
	pool     *acme.Pool
	notified chan types.NamespacedName
}

func newHarness(t *testing.T, dns acme.ChallengeDNS, workers int, mutate ...func(*acme.Options)) *harness {
	t.Helper()
	h := &harness{notified: make(chan types.NamespacedName, 100)}
	o := acme.Options{
		Workers:                  workers,
		CABundle:                 world.caBundle,
		Nameservers:              []string{world.dnsAddr},
		SkipAuthoritativeNSCheck: true,
		PropagationTimeout:       30 * time.Second,
		PollInterval:             200 * time.Millisecond,
		OrderTimeout:             2 * time.Minute,
		Accounts:                 acme.NewSecretAccountStore(world.k8s, world.namespace),
		DNS:                      dns,
		Notify:                   func(s types.NamespacedName) { h.notified <- s },
		Logger:                   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: legoLogLevel()})),
	}
	for _, m := range mutate {
		m(&o)
	}
	h.pool = acme.NewPool(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.pool.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return h
}

// wait returns the results of sites as Notify reports them.
func (h *harness) wait(t *testing.T, sites ...types.NamespacedName) map[types.NamespacedName]*acme.Result {
	t.Helper()
	out := map[types.NamespacedName]*acme.Result{}
	timeout := time.After(3 * time.Minute)
	for len(out) < len(sites) {
		select {
		case s := <-h.notified:
			r, ok := h.pool.Result(s)
			if !ok {
				t.Fatalf("notified for %s without a result", s)
			}
			out[s] = r
		case <-timeout:
			t.Fatalf("only %d of %d results after 3m", len(out), len(sites))
		}
	}
	return out
}

func site(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: "web", Name: name}
}

func request(name string, key certs.KeySpec) acme.Request {
	d := name + "." + world.zone
	return acme.Request{Site: site(name), Names: []string{d, "www." + d}, Key: key, Server: world.directory, Email: email}
}

// verify checks what a user relies on: the Secret parses, its key matches, and a client trusting
// pebble's root accepts the certificate for every requested name.
func verify(t *testing.T, req acme.Request, r *acme.Result) *certs.Parsed {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("%s: %v", req.Site, r.Err)
	}
	data := certs.SecretData(r.CertPEM, r.KeyPEM, r.CAPEM)
	p, err := certs.ParseTLSSecret(data)
	if err != nil {
		t.Fatalf("%s: Secret data does not parse: %v", req.Site, err)
	}
	if len(p.Chain) == 0 {
		t.Fatalf("%s: tls.crt holds the leaf only; servers need the intermediate", req.Site)
	}
	inter := x509.NewCertPool()
	for _, c := range p.Chain {
		inter.AddCert(c)
	}
	for _, n := range req.Names {
		if _, err := p.Leaf.Verify(x509.VerifyOptions{DNSName: n, Roots: world.roots, Intermediates: inter}); err != nil {
			t.Errorf("%s: does not verify for %s: %v", req.Site, n, err)
		}
	}
	want := req.Key.Normalized()
	if p.KeyAlgorithm != want.Algorithm || p.KeySize != want.Size {
		t.Errorf("%s: key %s-%d, want %s", req.Site, p.KeyAlgorithm, p.KeySize, want)
	}
	if reissue, why := certs.NeedsReissue(p, req.Names, req.Key); reissue {
		t.Errorf("%s: fresh certificate already needs reissue: %s", req.Site, why)
	}
	return p
}

func TestIssueECDSAAndRSARenewWithARI(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, &route53TXT{}, 2)
	ec, rsa := request("one", certs.KeySpec{}), request("two", certs.KeySpec{Algorithm: "RSA", Size: 2048})
	start := time.Now()
	for _, r := range []acme.Request{ec, rsa} {
		if !h.pool.Submit(r) {
			t.Fatalf("%s not accepted", r.Site)
		}
	}
	if h.pool.Submit(ec) || !h.pool.InFlight(ec.Site) {
		t.Fatal("a second order for a site in flight was accepted")
	}
	res := h.wait(t, ec.Site, rsa.Site)
	t.Logf("2 orders (ECDSA, RSA) in %s", time.Since(start).Round(time.Millisecond))
	first := verify(t, ec, res[ec.Site])
	verify(t, rsa, res[rsa.Site])
	if len(res[ec.Site].CAPEM) != 0 {
		t.Error("ca.crt filled although pebble's chain stops at the intermediate")
	}
	if w := res[ec.Site].ARI; w == nil || !w.End.After(w.Start) || w.Start.After(first.NotAfter) {
		t.Errorf("ARI window %+v for a certificate valid until %s", w, first.NotAfter)
	} else if rt := certs.RenewalTime(first, w, time.Now()); rt.Before(w.Start) || rt.After(w.End) {
		t.Errorf("renewal time %s outside the ARI window", rt)
	}
	if left, err := challengeRecordsRemoved(ctx); err != nil || len(left) > 0 {
		t.Errorf("challenge records left behind: %v %v", left, err)
	}

	// Renewal: the order names the certificate it replaces, and the key rotates.
	renew := ec
	renew.Replaces = first.Leaf
	if !h.pool.Submit(renew) {
		t.Fatal("renewal not accepted")
	}
	second := verify(t, renew, h.wait(t, ec.Site)[ec.Site])
	if second.SerialHex == first.SerialHex {
		t.Error("renewal returned the same certificate")
	}
	if keyEqual(first, second) {
		t.Error("renewal reused the private key")
	}
	w, err := h.pool.RenewalInfo(ctx, second.Leaf, world.directory)
	if err != nil || w == nil {
		t.Errorf("RenewalInfo = %v, %v", w, err)
	}
}

func keyEqual(a, b *certs.Parsed) bool {
	ak, ok := a.Leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b.Leaf.PublicKey)
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestManySitesInParallel issues 20 certificates through one pool and 5 through a one-worker pool,
// and checks that all of them share one ACME account.
func TestManySitesInParallel(t *testing.T) {
	ctx := context.Background()
	regsBefore := counterValue(acme.AccountRegistrations)
	issuedBefore := counterValue(acme.Orders.WithLabelValues(acme.ResultIssued))

	seq := newHarness(t, &route53TXT{}, 1)
	start := time.Now()
	for i := range 5 {
		req := request(fmt.Sprintf("seq%d", i), certs.KeySpec{})
		seq.pool.Submit(req)
		verify(t, req, seq.wait(t, req.Site)[req.Site])
	}
	sequential := time.Since(start)

	par := newHarness(t, &route53TXT{}, 20)
	var reqs []acme.Request
	var sites []types.NamespacedName
	for i := range 20 {
		req := request(fmt.Sprintf("par%d", i), certs.KeySpec{})
		reqs, sites = append(reqs, req), append(sites, req.Site)
	}
	start = time.Now()
	for _, req := range reqs {
		if !par.pool.Submit(req) {
			t.Fatalf("%s not accepted", req.Site)
		}
	}
	submitted := time.Since(start)
	res := par.wait(t, sites...)
	parallel := time.Since(start)
	for _, req := range reqs {
		verify(t, req, res[req.Site])
	}
	t.Logf("sequential: 5 orders in %s (%s each); parallel: 20 orders on 20 workers in %s (%s each); Submit x20 took %s",
		sequential.Round(time.Millisecond), (sequential / 5).Round(time.Millisecond),
		parallel.Round(time.Millisecond), (parallel / 20).Round(time.Millisecond), submitted)
	if submitted > time.Second {
		t.Errorf("Submit blocked for %s", submitted)
	}

	if got := counterValue(acme.Orders.WithLabelValues(acme.ResultIssued)) - issuedBefore; got != 25 {
		t.Errorf("securesite_acme_orders_total{result=issued} grew by %v, want 25", got)
	}
	// One account for server+email, whichever pool (or test) used it first.
	if got := counterValue(acme.AccountRegistrations) - regsBefore; got > 1 {
		t.Errorf("%v accounts registered for 25 orders, want at most 1", got)
	}
	if left, err := challengeRecordsRemoved(ctx); err != nil || len(left) > 0 {
		t.Errorf("challenge records left behind: %v %v", left, err)
	}
}

// TestChallengeThatCannotValidate covers a DNS layer that writes the wrong value. Seen through an
// honest resolver, lego's propagation check never sees the expected value and the order fails
// before the CA is asked (no failed validation is charged). Seen through a resolver that agrees
// with lego, the CA validates for real and fails the authorization.
func TestChallengeThatCannotValidate(t *testing.T) {
	ctx := context.Background()
	failedBefore := counterValue(acme.Orders.WithLabelValues(acme.ResultFailed))
	wrong := func(v string) string { return "wrong-" + v }

	t.Run("caught by the propagation check", func(t *testing.T) {
		h := newHarness(t, &route53TXT{mangle: wrong}, 1, func(o *acme.Options) { o.PropagationTimeout = 3 * time.Second })
		req := request("badprop", certs.KeySpec{})
		start := time.Now()
		h.pool.Submit(req)
		r := h.wait(t, req.Site)[req.Site]
		t.Logf("failed after %s: %v", time.Since(start).Round(time.Millisecond), r.Err)
		if r.Err == nil || len(r.CertPEM) > 0 || !strings.Contains(r.Err.Error(), "did not return the expected TXT record") {
			t.Fatalf("want a propagation failure, got cert=%d err=%v", len(r.CertPEM), r.Err)
		}
	})

	t.Run("rejected by the CA", func(t *testing.T) {
		txt := &route53TXT{mangle: wrong}
		resolver, addr, err := startAgreeingResolver(txt)
		if err != nil {
			t.Fatal(err)
		}
		defer resolver.stop()
		h := newHarness(t, txt, 1, func(o *acme.Options) { o.Nameservers = []string{addr} })
		req := request("badca", certs.KeySpec{})
		start := time.Now()
		h.pool.Submit(req)
		r := h.wait(t, req.Site)[req.Site]
		t.Logf("pebble failed the order after %s: %v", time.Since(start).Round(time.Millisecond), r.Err)
		if r.Err == nil || len(r.CertPEM) > 0 || !strings.Contains(r.Err.Error(), "unauthorized") {
			t.Fatalf("want the CA's unauthorized error, got cert=%d err=%v", len(r.CertPEM), r.Err)
		}
	})

	if got := counterValue(acme.Orders.WithLabelValues(acme.ResultFailed)) - failedBefore; got != 2 {
		t.Errorf("securesite_acme_orders_total{result=failed} grew by %v, want 2", got)
	}
	if left, err := challengeRecordsRemoved(ctx); err != nil || len(left) > 0 {
		t.Errorf("challenge records left behind after failures: %v %v", left, err)
	}
}

// legoLogLevel is Warn unless ACME_TEST_LOG=debug|info asks for lego's step-by-step log.
func legoLogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("ACME_TEST_LOG"))); err != nil {
		return slog.LevelWarn
	}
	return l
}

// TestAccountRegisteredOnceAndReused starts orders for a new email concurrently, then "restarts"
// (a new pool over the same Secret store): one registration in all, one account Secret.
func TestAccountRegisteredOnceAndReused(t *testing.T) {
	ctx := context.Background()
	const newEmail = "reuse@securesite.test"
	before := counterValue(acme.AccountRegistrations)
	run := func(h *harness, prefix string, n int) {
		var sites []types.NamespacedName
		for i := range n {
			req := request(fmt.Sprintf("%s%d", prefix, i), certs.KeySpec{})
			req.Email = newEmail
			h.pool.Submit(req)
			sites = append(sites, req.Site)
		}
		for s, r := range h.wait(t, sites...) {
			if r.Err != nil {
				t.Fatalf("%s: %v", s, r.Err)
			}
		}
	}
	run(newHarness(t, &route53TXT{}, 5), "acct", 5)
	if got := counterValue(acme.AccountRegistrations) - before; got != 1 {
		t.Fatalf("%v registrations for 5 concurrent first orders, want 1", got)
	}
	run(newHarness(t, &route53TXT{}, 2), "restart", 2)
	if got := counterValue(acme.AccountRegistrations) - before; got != 1 {
		t.Fatalf("%v registrations after a restart, want still 1 (account loaded from its Secret)", got)
	}
	var sec corev1.Secret
	key := client.ObjectKey{Namespace: world.namespace, Name: acme.AccountSecretName(world.directory, newEmail)}
	if err := world.k8s.Get(ctx, key, &sec); err != nil {
		t.Fatalf("account Secret: %v", err)
	}
	if sec.Labels[acme.LabelManagedBy] != acme.ManagedBy || len(sec.Data["tls.key"]) == 0 ||
		!strings.HasPrefix(string(sec.Data["registration-uri"]), "https://") {
		t.Errorf("account Secret shape: labels %v, keys %d bytes, uri %q", sec.Labels, len(sec.Data["tls.key"]), sec.Data["registration-uri"])
	}
	var all corev1.SecretList
	if err := world.k8s.List(ctx, &all, client.InNamespace(world.namespace),
		client.MatchingLabels{acme.LabelManagedBy: acme.ManagedBy}); err != nil {
		t.Fatal(err)
	}
	for _, s := range all.Items {
		if s.Name != key.Name && s.Name != acme.AccountSecretName(world.directory, email) {
			t.Errorf("unexpected account Secret %s", s.Name)
		}
	}
}

func TestPoolRefusesToStartWithoutChallengeDNS(t *testing.T) {
	if err := acme.NewPool(acme.Options{}).Start(context.Background()); err == nil {
		t.Fatal("a pool that cannot answer DNS-01 started")
	}
	if err := acme.NewPool(acme.Options{DNS: &route53TXT{}, CABundle: []byte("not PEM")}).Start(context.Background()); err == nil {
		t.Fatal("a pool with an unusable CA bundle started")
	}
}

func TestUntakenResultBlocksANewOrder(t *testing.T) {
	h := newHarness(t, &route53TXT{}, 1)
	req := request("untaken", certs.KeySpec{})
	h.pool.Submit(req)
	if s := <-h.notified; s != req.Site {
		t.Fatalf("notified for %s", s)
	}
	if h.pool.InFlight(req.Site) || h.pool.Submit(req) {
		t.Fatal("a new order was accepted while a finished result waits to be taken")
	}
	if r, ok := h.pool.Result(req.Site); !ok || r.Err != nil {
		t.Fatalf("result %v %v", ok, r)
	}
	if _, ok := h.pool.Result(req.Site); ok {
		t.Fatal("Result did not take the result")
	}
}

// slowLedger is a LedgerStore whose saves take a while (an API server under load) and are counted.
type slowLedger struct {
	mu     sync.Mutex
	saves  int
	stored acme.Ledger
}

func (s *slowLedger) Load(context.Context) (acme.Ledger, error) { return acme.Ledger{}, nil }

func (s *slowLedger) Save(_ context.Context, l acme.Ledger) (acme.Ledger, error) {
	time.Sleep(100 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	s.stored = l
	return l, nil
}

// TestLedgerSavesAreShared: every send is on record before it happens, but the workers that take
// orders while a save of the ledger runs share the next save instead of saving one after the
// other (16 orders taken at once by 16 workers cost 16 serial saves, 1.6 s here, before).
func TestLedgerSavesAreShared(t *testing.T) {
	store := &slowLedger{}
	h := newHarness(t, &route53TXT{}, 16, func(o *acme.Options) { o.Ledger = store })
	var sites []types.NamespacedName
	for i := range 16 {
		req := request(fmt.Sprintf("ledger%d", i), certs.KeySpec{})
		h.pool.Submit(req)
		sites = append(sites, req.Site)
	}
	h.wait(t, sites...)
	store.mu.Lock()
	defer store.mu.Unlock()
	sends := 0
	for _, ts := range store.stored.Orders {
		sends = max(sends, len(ts))
	}
	t.Logf("16 orders taken at once: %d ledger saves, %d sends on record", store.saves, sends)
	if sends != 16 {
		t.Errorf("%d sends on record for the account, want 16", sends)
	}
	if store.saves > 4 {
		t.Errorf("%d ledger saves for 16 orders taken at once, want them shared", store.saves)
	}
}
