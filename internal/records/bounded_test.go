package records

import (
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// A controller runs for months and makes a Route53 change for every site written, every DNS-01
// challenge written and removed. What the service remembers of those changes (which are INSYNC,
// the per-owner locks of challenge edits) must shrink back to what is recent or in flight, not
// keep an entry for every change and every owner it ever saw.
func TestChangeMemoryIsBounded(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "bounded.site")
	clock := newClock()
	svc := New(awsCfg, Options{Now: clock.Now, BatchWindow: time.Millisecond})
	const sites = 20
	for i := range sites {
		owner := fmt.Sprintf("web/s%d", i)
		res, err := svc.Ensure(w.ctx, w.zone, owner, []Record{a(fmt.Sprintf("s%d.bounded.site", i), "192.0.2.1")})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(svc.ChangeInSync(w.ctx, res.ChangeID)).To(BeTrue())
		g.Expect(svc.WaitInSync(w.ctx, res.ChangeID)).To(Succeed())
		challenge := []TXTValue{{Name: fmt.Sprintf("_acme-challenge.s%d.bounded.site", i), Value: "token"}}
		_, err = svc.AddTXTValues(w.ctx, w.zone, owner+"/acme", challenge)
		g.Expect(err).NotTo(HaveOccurred())
		_, err = svc.RemoveTXTValues(w.ctx, w.zone, owner+"/acme", challenge)
		g.Expect(err).NotTo(HaveOccurred())
		clock.Advance(time.Minute)
	}
	g.Expect(svc.ownerLocks.len()).To(BeZero(), "no challenge edit in flight, no lock kept")

	// Two edits of one owner at once still see each other (the lock is shared while both want it).
	var wg sync.WaitGroup
	for _, v := range []string{"one", "two", "three"} {
		wg.Go(func() {
			_, err := svc.AddTXTValues(w.ctx, w.zone, "web/s0/acme", []TXTValue{{Name: "_acme-challenge.s0.bounded.site", Value: v}})
			g.Expect(err).NotTo(HaveOccurred())
		})
	}
	wg.Wait()
	g.Expect(w.records()["_acme-challenge.s0.bounded.site|TXT"].Values).To(ConsistOf("one", "two", "three"))
	g.Expect(svc.ownerLocks.len()).To(BeZero())

	// Long after, one more change: the INSYNC answers remembered are those of the last minutes.
	clock.Advance(insyncKeep)
	res, err := svc.Ensure(w.ctx, w.zone, "web/late", []Record{a("late.bounded.site", "192.0.2.1")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(svc.ChangeInSync(w.ctx, res.ChangeID)).To(BeTrue())
	g.Expect(svc.insync.len()).To(Equal(1), "only the last change is remembered as INSYNC")

	// A wait polls the change once for all its waiters, and the poll is gone when it is done.
	other := New(awsCfg, Options{Now: clock.Now})
	g.Expect(other.WaitInSync(w.ctx, res.ChangeID)).To(Succeed())
	g.Eventually(func() int {
		n := 0
		other.waiters.Range(func(any, any) bool { n++; return true })
		return n
	}).Should(BeZero())
}
