package records

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// A change that finds no call in flight for its zone is sent at once: a single site's record, or
// one order's challenge values, does not wait for a batch window (100 ms each, twice per
// certificate, before).
func TestLoneChangeIsSentAtOnce(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "lone.site")
	svc := New(awsCfg, Options{})
	_, err := svc.Plan(w.ctx, w.zone, "web/x", nil) // the zone is listed; only the write is timed
	g.Expect(err).NotTo(HaveOccurred())
	var took []time.Duration
	for i := range 3 {
		start := time.Now()
		var res EnsureResult
		writes := calls("ChangeResourceRecordSets", func() {
			res, err = svc.Ensure(w.ctx, w.zone, fmt.Sprintf("web/s%d", i), []Record{a(fmt.Sprintf("s%d.lone.site", i), "192.0.2.1")})
		})
		took = append(took, time.Since(start))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Changed).To(HaveLen(1))
		g.Expect(writes).To(Equal(1))
	}
	t.Logf("a lone change took %v", took)
	// The fastest of three, so that a moment of load on the machine does not decide; every one of
	// them waited at least 100 ms before.
	g.Expect(slices.Min(took)).To(BeNumerically("<", 50*time.Millisecond))
}

// Under load the calls are paced to the account's rate, and what comes in between is combined:
// 40 sites changing their records one every 10 ms (100 changes a second for 0.4 s) make a handful
// of calls, not 40, and no more than ChangeRate allows.
func TestChangesUnderLoadAreCombinedAndPaced(t *testing.T) {
	g := NewWithT(t)
	w := newWorld(t, "paced.site")
	const rate, sites = 5, 40
	svc := New(awsCfg, Options{ChangeRate: rate})
	_, err := svc.Plan(w.ctx, w.zone, "web/x", nil)
	g.Expect(err).NotTo(HaveOccurred())
	var mu sync.Mutex
	var last time.Time // when the last Ensure returned: the last call was answered
	start := time.Now()
	writes := calls("ChangeResourceRecordSets", func() {
		var wg sync.WaitGroup
		for i := range sites {
			wg.Go(func() {
				res, err := svc.Ensure(w.ctx, w.zone, fmt.Sprintf("web/s%d", i), []Record{a(fmt.Sprintf("s%d.paced.site", i), "192.0.2.1")})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(res.Changed).To(HaveLen(1))
				mu.Lock()
				last = time.Now()
				mu.Unlock()
			})
			time.Sleep(10 * time.Millisecond)
		}
		wg.Wait()
	})
	span := last.Sub(start)
	t.Logf("%d changes over 0.4 s: %d ChangeResourceRecordSets in %s", sites, writes, span.Round(time.Millisecond))
	g.Expect(w.records()).To(HaveLen(2 * sites))
	// A burst of `rate` calls, then one per 1/rate s; one call of slack for timing.
	g.Expect(float64(writes)).To(BeNumerically("<=", rate+rate*span.Seconds()+1))
	g.Expect(writes).To(BeNumerically("<=", 10), "changes that wait for a call travel together in it")
}
