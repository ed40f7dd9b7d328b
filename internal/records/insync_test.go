package records

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// Route53 allows five API requests per second per account, all calls together. Under load (a
// thousand new sites, each writing DNS-01 challenges and waiting for them to be INSYNC) a hundred
// changes can be pending at once in a zone, each taking seconds to a minute on AWS: the waits must
// cost a few GetChange calls per interval, not one per pending change, and still wake every waiter
// once the changes are INSYNC. Both emulators answer INSYNC at once, so the test world holds the
// zone's changes PENDING.
func TestManyPendingChangesCostFewPolls(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "pending.site")
	release := emulator.HoldChangesPending(w.zone.ID)
	defer release()
	svc := New(awsCfg, Options{ChangeRate: 1000})

	const changes = 30
	ids := make([]string, changes)
	for i := range changes {
		res, err := svc.Ensure(w.ctx, w.zone, fmt.Sprintf("web/p%d", i), []Record{a(fmt.Sprintf("p%d.pending.site", i), "192.0.2.1")})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.InSync).To(BeFalse(), "the change is held PENDING")
		ids[i] = res.ChangeID
	}
	g.Expect(ids).To(HaveLen(changes))

	woken := make(chan string, changes)
	var wg sync.WaitGroup
	start := time.Now()
	polls := calls("GetChange", func() {
		for _, id := range ids {
			wg.Go(func() {
				g.Expect(svc.WaitInSync(w.ctx, id)).To(Succeed())
				woken <- id
			})
		}
		time.Sleep(3 * inSyncPoll)
		g.Expect(woken).To(BeEmpty(), "no waiter wakes while its change is PENDING")
		release()
		wg.Wait()
	})
	elapsed := time.Since(start)
	g.Expect(woken).To(HaveLen(changes), "every waiter wakes once the changes are INSYNC")
	// One zone: at most one poll per interval (and the one at the start), whatever the number of
	// changes pending.
	rounds := int(elapsed/inSyncPoll) + 2
	g.Expect(polls).To(BeNumerically("<=", rounds), "GetChange calls for %d pending changes in %s", changes, elapsed)
	for _, id := range ids {
		g.Expect(svc.ChangeInSync(w.ctx, id)).To(BeTrue())
	}
	t.Logf("%d pending changes, %d GetChange calls in %s", changes, polls, elapsed.Round(time.Millisecond))
}

// Under steady load new changes are sent to a zone faster than they become INSYNC. A change that
// is INSYNC must still wake its waiter, not wait for a lull in the zone's changes.
func TestInSyncWaitIsNotStarvedByNewerChanges(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "steady.site")
	release := emulator.HoldChangesPending(w.zone.ID)
	defer release()
	svc := New(awsCfg, Options{ChangeRate: 1000})
	ensure := func(i int) string {
		res, err := svc.Ensure(w.ctx, w.zone, fmt.Sprintf("web/s%d", i), []Record{a(fmt.Sprintf("s%d.steady.site", i), "192.0.2.1")})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.InSync).To(BeFalse(), "the change is held PENDING")
		return res.ChangeID
	}
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	first := ensure(0)
	woken := make(chan error, 1)
	go func() { woken <- svc.WaitInSync(ctx, first) }()

	// A new pending change, and a waiter for it, every 300 ms; the first change is INSYNC after 1 s.
	deadline := time.After(5 * inSyncPoll)
	for i := 1; ; i++ {
		id := ensure(i)
		go func() { _ = svc.WaitInSync(ctx, id) }()
		if i == 3 {
			emulator.ReleaseChange(first)
		}
		select {
		case err := <-woken:
			g.Expect(err).NotTo(HaveOccurred())
			t.Logf("woken after %d newer changes", i)
			return
		case <-deadline:
			t.Fatalf("the first change's waiter still waits, %d newer changes pending", i)
		case <-time.After(300 * time.Millisecond):
		}
	}
}
