package acme_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/certs"
)

// togetherDNS is the test world's Route53 writer that also says when a value is in place (as the
// controller's Route53 layer does), and holds each name's propagation wait until every name of
// the order is waiting, or a while has passed: it sees whether the names are answered side by
// side or one after the other.
type togetherDNS struct {
	route53TXT
	names int // names in the order

	mu                  sync.Mutex
	presents, cleanups  int
	waiting, maxWaiting int
	all                 chan struct{}
}

func (d *togetherDNS) PresentTXT(ctx context.Context, values []acme.TXTValue) error {
	d.mu.Lock()
	d.presents++
	d.mu.Unlock()
	return d.route53TXT.PresentTXT(ctx, values)
}

func (d *togetherDNS) CleanupTXT(ctx context.Context, values []acme.TXTValue) error {
	d.mu.Lock()
	d.cleanups++
	d.mu.Unlock()
	return d.route53TXT.CleanupTXT(ctx, values)
}

func (d *togetherDNS) WaitPropagated(ctx context.Context, _, _ string) error {
	d.mu.Lock()
	d.waiting++
	d.maxWaiting = max(d.maxWaiting, d.waiting)
	if d.waiting == d.names {
		close(d.all)
	}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.waiting--
		d.mu.Unlock()
	}()
	select {
	case <-d.all:
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// TestOrderAnswersAllChallengesTogether: the challenges of an order's names are written in one
// call to the DNS layer (one Route53 change), answered side by side, and removed in one call.
// Answered name after name, as lego's own resolver does, every name added lego's wait of about 5 s
// before it first asks the CA for the outcome.
func TestOrderAnswersAllChallengesTogether(t *testing.T) {
	ctx := context.Background()
	d := world.zone
	req := acme.Request{Site: site("together"), Names: []string{"together." + d, "www.together." + d, "api.together." + d},
		Server: world.directory, Email: email}
	dns := &togetherDNS{names: len(req.Names), all: make(chan struct{})}
	h := newHarness(t, dns, 1)
	start := time.Now()
	h.pool.Submit(req)
	verify(t, req, h.wait(t, req.Site)[req.Site])
	t.Logf("an order for %d names in %s", len(req.Names), time.Since(start).Round(time.Millisecond))

	if left, err := challengeRecordsRemoved(ctx); err != nil || len(left) > 0 {
		t.Errorf("challenge records left behind: %v %v", left, err)
	}
	dns.mu.Lock()
	defer dns.mu.Unlock()
	if dns.presents != 1 || dns.cleanups != 1 {
		t.Errorf("challenge records written in %d calls and removed in %d, want 1 and 1", dns.presents, dns.cleanups)
	}
	if dns.maxWaiting != len(req.Names) {
		t.Errorf("at most %d of %d names were answered at the same time", dns.maxWaiting, len(req.Names))
	}
}

// heldCleanupDNS holds every removal of challenge records until the test releases it (a slow
// Route53 change).
type heldCleanupDNS struct {
	route53TXT
	held    chan struct{} // a removal is waiting
	release chan struct{}
}

func (d *heldCleanupDNS) CleanupTXT(ctx context.Context, values []acme.TXTValue) error {
	d.held <- struct{}{}
	select {
	case <-d.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return d.route53TXT.CleanupTXT(ctx, values)
}

// TestWorkerIsFreeBeforeChallengeRecordsAreRemoved: once the CA has validated the names, the
// order's result and the worker's next order do not wait for the removal of the challenge
// records; the removal still happens.
func TestWorkerIsFreeBeforeChallengeRecordsAreRemoved(t *testing.T) {
	ctx := context.Background()
	dns := &heldCleanupDNS{held: make(chan struct{}, 10), release: make(chan struct{})}
	h := newHarness(t, dns, 1)
	first, second := request("held-first", certs.KeySpec{}), request("held-second", certs.KeySpec{})
	for _, req := range []acme.Request{first, second} {
		h.pool.Submit(req)
		select {
		case s := <-h.notified:
			res, _ := h.pool.Result(s)
			verify(t, req, res)
		case <-time.After(8 * time.Second): // less than the 10 s bound of a removal
			close(dns.release)
			t.Fatalf("no result for %s while the removal of challenge records was held", req.Site)
		}
	}
	if left, err := challengeRecords(ctx); err != nil || len(left) == 0 {
		t.Errorf("challenge records %v (%v) while their removal was held: the results did not wait for it", left, err)
	}
	// The reconciler leaves the records to the removal meanwhile (releaseStaleChallenges).
	if !h.pool.RemovingChallenges(first.Site) || !h.pool.RemovingChallenges(second.Site) {
		t.Error("the sites do not show their challenge records as being removed")
	}
	close(dns.release)
	if left, err := challengeRecordsRemoved(ctx); err != nil || len(left) > 0 {
		t.Errorf("challenge records left behind: %v %v", left, err)
	}
	for deadline := time.Now().Add(5 * time.Second); h.pool.RemovingChallenges(first.Site) || h.pool.RemovingChallenges(second.Site); {
		if time.Now().After(deadline) {
			t.Fatal("the sites still show their challenge records as being removed after the removal")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
