package records

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	. "github.com/onsi/gomega"
)

// A caller that must not wait for the zone's next call (a reconcile worker) hands its change over
// and returns at once, even when the account's change rate puts that call seconds away; it is
// told when Route53 has answered, and its next call reports the answer. Many such callers share
// one call: with Ensure, each waited for the call and the number of waiting workers bounded how
// many sites a call could carry.
func TestEnsureQueuedReturnsAtOnceAndReportsTheAnswerLater(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "queued.site")
	svc := New(awsCfg, Options{ChangeRate: 0.5}) // one call, then the next after 2 s
	_, err := svc.Ensure(w.ctx, w.zone, "web/first", []Record{a("first.queued.site", "192.0.2.1")})
	g.Expect(err).NotTo(HaveOccurred())

	const sites = 30
	var answered sync.WaitGroup
	answered.Add(sites)
	start := time.Now()
	writes := calls("ChangeResourceRecordSets", func() {
		for i := range sites {
			res, err := svc.EnsureQueued(w.ctx, w.zone, fmt.Sprintf("web/s%d", i), []Record{a(fmt.Sprintf("s%d.queued.site", i), "192.0.2.1")}, answered.Done)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Queued).To(BeTrue())
			g.Expect(res.InSync).To(BeFalse())
		}
		g.Expect(time.Since(start)).To(BeNumerically("<", time.Second), "handing over does not wait for the call")
		// Asked again before the answer: still queued, nothing added.
		res, err := svc.EnsureQueued(w.ctx, w.zone, "web/s0", []Record{a("s0.queued.site", "192.0.2.1")}, nil)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Queued).To(BeTrue())
		answered.Wait()
	})
	g.Expect(writes).To(Equal(1), "every queued change travels in the zone's next call")
	g.Expect(w.records()).To(HaveLen(2 * (sites + 1)))
	for i := range sites {
		res, err := svc.EnsureQueued(w.ctx, w.zone, fmt.Sprintf("web/s%d", i), []Record{a(fmt.Sprintf("s%d.queued.site", i), "192.0.2.1")}, nil)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Queued).To(BeFalse())
		g.Expect(res.Changed).To(HaveLen(1), "the answer reports what the queued change did, once")
		again, err := svc.EnsureQueued(w.ctx, w.zone, fmt.Sprintf("web/s%d", i), []Record{a(fmt.Sprintf("s%d.queued.site", i), "192.0.2.1")}, nil)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(again.InSync).To(BeTrue())
		g.Expect(again.Changed).To(BeEmpty())
	}
}

// Ensure (a Release when the site is deleted) waits for the owner's queued change first: planned
// without it, the release would find nothing to delete and the queued records would stay behind.
func TestEnsureWaitsForTheOwnersQueuedChange(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "release.site")
	svc := New(awsCfg, Options{ChangeRate: 1})
	_, err := svc.Ensure(w.ctx, w.zone, "web/first", []Record{a("first.release.site", "192.0.2.1")})
	g.Expect(err).NotTo(HaveOccurred())
	res, err := svc.EnsureQueued(w.ctx, w.zone, "web/gone", []Record{a("gone.release.site", "192.0.2.2")}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Queued).To(BeTrue())
	_, err = svc.Release(w.ctx, w.zone, "web/gone")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.records()).To(HaveLen(2), "only first.release.site and its registry record are left")
}

// A queued change the zone refuses because the snapshot was stale (a record made by hand after
// the zone was listed) is planned again on a newer listing by the owner's next call, as Ensure
// does: the hand-made record is then a conflict, not an error.
func TestEnsureQueuedRefusedOnAStaleSnapshotPlansAgain(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "stale.site")
	svc := New(awsCfg, Options{})
	_, err := svc.Plan(w.ctx, w.zone, "web/x", nil) // listed before the hand edit
	g.Expect(err).NotTo(HaveOccurred())
	foreign := a("api.stale.site", "198.51.100.7")
	w.byHand(types.ChangeActionCreate, foreign)

	answered := make(chan struct{})
	res, err := svc.EnsureQueued(w.ctx, w.zone, "web/a", []Record{a("api.stale.site", "192.0.2.1")}, func() { close(answered) })
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Queued).To(BeTrue())
	<-answered
	res, err = svc.EnsureQueued(w.ctx, w.zone, "web/a", []Record{a("api.stale.site", "192.0.2.1")}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Queued).To(BeFalse())
	g.Expect(res.Conflicts).To(ConsistOf(HaveField("Owner", "")))
	g.Expect(w.records()).To(Equal(map[string]Record{foreign.key(): foreign}))
}
