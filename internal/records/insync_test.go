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
	z := newPendingZone(t, "pending.site")
	w, svc, release := z.world, z.svc, z.release

	const changes = 30
	ids := make([]string, changes)
	for i := range changes {
		ids[i] = z.write(g, i)
	}

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
	z := newPendingZone(t, "steady.site")
	svc := z.svc
	ctx, cancel := context.WithCancel(z.world.ctx)
	defer cancel()
	first := z.write(g, 0)
	woken := make(chan error, 1)
	go func() { woken <- svc.WaitInSync(ctx, first) }()

	// A new pending change, and a waiter for it, every 300 ms; the first change is INSYNC after 1 s.
	deadline := time.After(5 * inSyncPoll)
	for i := 1; ; i++ {
		id := z.write(g, i)
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

// pendingZone is a zone whose changes the test world holds PENDING (both emulators answer INSYNC
// at once) until released, and a service whose writes are not paced.
type pendingZone struct {
	world   *world
	svc     *Service
	release func()
}

func newPendingZone(t *testing.T, name string) pendingZone {
	w := newWorld(t, name)
	release := emulator.HoldChangesPending(w.zone.ID)
	t.Cleanup(release)
	return pendingZone{world: w, svc: New(awsCfg, Options{ChangeRate: 1000}), release: release}
}

// write sends one site's record and returns its change ID, held PENDING.
func (z pendingZone) write(g Gomega, i int) string {
	res, err := z.svc.Ensure(z.world.ctx, z.world.zone, fmt.Sprintf("web/r%d", i), []Record{a(fmt.Sprintf("r%d.%s", i, z.world.zone.Name), "192.0.2.1")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.InSync).To(BeFalse(), "the change is held PENDING")
	return res.ChangeID
}
