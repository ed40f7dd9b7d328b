package controllers

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/securesite-io/securesite/internal/testworld"
)

// TestResyncSchedule: a scheduled site is due once, after its wait; a site without a record is
// not scheduled (its pass requeues it instead); a status patch in between (a pass that ran for
// another reason) replaces the schedule.
func TestResyncSchedule(t *testing.T) {
	var s siteRecords
	a, b, c := types.NamespacedName{Namespace: "ns", Name: "a"}, types.NamespacedName{Namespace: "ns", Name: "b"}, types.NamespacedName{Namespace: "ns", Name: "c"}
	s.store(a, siteRecord{written: "1"})
	s.store(b, siteRecord{written: "2"})
	if s.scheduleResync(c, time.Minute) {
		t.Fatal("a site with no record was scheduled")
	}
	if !s.scheduleResync(a, 10*time.Second) || !s.scheduleResync(b, time.Minute) {
		t.Fatal("a site with a record was not scheduled")
	}
	start := time.Now()
	if due := s.takeDue(start, 10); len(due) != 0 {
		t.Fatalf("due at once: %v", due)
	}
	if due := s.takeDue(start.Add(12*time.Second), 10); !slices.Equal(due, []types.NamespacedName{a}) {
		t.Fatalf("due after 12s: %v, want [a]", due)
	}
	if due := s.takeDue(start.Add(13*time.Second), 10); len(due) != 0 {
		t.Fatalf("a taken twice: %v", due)
	}
	s.store(b, siteRecord{written: "3"}) // b's pass ran for another reason and wrote its status
	if due := s.takeDue(start.Add(2*time.Minute), 10); len(due) != 0 {
		t.Fatalf("b's old schedule survived its pass: %v", due)
	}
	if rec, _ := s.load(a); rec.written != "1" {
		t.Fatalf("taking a's resync changed its record: %+v", rec)
	}
}

// TestResyncLateness: the pass that starts a resync the schedule took learns how late it starts,
// from the tick the resync came due in; a pass that starts no resync learns nothing, and a resync
// is counted once.
func TestResyncLateness(t *testing.T) {
	var s siteRecords
	a, b := types.NamespacedName{Namespace: "ns", Name: "a"}, types.NamespacedName{Namespace: "ns", Name: "b"}
	s.store(a, siteRecord{written: "1"})
	s.store(b, siteRecord{written: "1"})
	s.scheduleResync(a, 10*time.Second)
	s.scheduleResync(b, time.Minute)
	start := s.epoch
	if _, ok := s.resyncStarted(a, start.Add(5*time.Second)); ok {
		t.Fatal("a pass before the resync was taken counted as the resync")
	}
	if due := s.takeDue(start.Add(12*time.Second), 10); !slices.Equal(due, []types.NamespacedName{a}) {
		t.Fatalf("due after 12s: %v, want [a]", due)
	}
	late, ok := s.resyncStarted(a, start.Add(15*time.Second))
	if !ok || late < 5*time.Second || late > 5*time.Second+resyncTick {
		t.Fatalf("a's resync, due after 10s and started after 15s, was %s late (%v), want 5s to 5s + a tick", late, ok)
	}
	if _, ok := s.resyncStarted(a, start.Add(16*time.Second)); ok {
		t.Fatal("a's resync counted twice")
	}
	if _, ok := s.resyncStarted(b, start.Add(16*time.Second)); ok {
		t.Fatal("b's pass, before its resync came due, counted as its resync")
	}
	if due := s.takeDue(start.Add(20*time.Second), 10); len(due) != 0 {
		t.Fatalf("a started resync was taken again: %v", due)
	}
}

// TestResyncTakesLongestDueFirst: a batch of due resyncs is taken a few at a time, the longest
// due first; the sites left over stay due and are taken next, before any site that comes due later.
func TestResyncTakesLongestDueFirst(t *testing.T) {
	var s siteRecords
	key := func(i int) types.NamespacedName {
		return types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("s%02d", i)}
	}
	start := time.Now()
	for i := range 20 {
		s.store(key(i), siteRecord{written: "1"})
		// s00 is due after 20s, s01 after 19s, ... s19 after 1s; s20 to s29 (below) after 100s.
		s.scheduleResync(key(i), time.Duration(20-i)*time.Second)
	}
	for i := 20; i < 30; i++ {
		s.store(key(i), siteRecord{written: "1"})
		s.scheduleResync(key(i), 100*time.Second)
	}
	var taken []types.NamespacedName
	for range 4 {
		batch := s.takeDue(start.Add(30*time.Second), 6)
		if len(batch) > 6 {
			t.Fatalf("took %d, limit 6", len(batch))
		}
		taken = append(taken, batch...)
	}
	if len(taken) != 20 {
		t.Fatalf("took %d of the 20 due sites: %v", len(taken), taken)
	}
	for i, k := range taken {
		if want := key(19 - i); k != want {
			t.Fatalf("taken %d is %s, want %s (longest due first): %v", i, k, want, taken)
		}
	}
	if due := s.takeDue(start.Add(30*time.Second), 6); len(due) != 0 {
		t.Fatalf("a site not yet due was taken: %v", due)
	}
	if due := s.takeDue(start.Add(102*time.Second), 100); len(due) != 10 {
		t.Fatalf("after 102s took %d, want the 10 due after 100s", len(due))
	}
}

// TestSiteRecordSize: the schedule lives in the record's padding.
func TestSiteRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(siteRecord{}); n != 32 {
		t.Fatalf("siteRecord is %d bytes, want 32", n)
	}
}

// BenchmarkIdleSiteMemory reports the bytes per site that 10,000 idle sites cost between their
// resyncs, after the start-up flood (every site in the queue once): "queue" with each site
// waiting in controller-runtime's priority queue for its resync (as before the schedule),
// "schedule" with each site's resync in its record, "admitted" the same with the flood let into
// the queue a working set at a time (admissionQueue, 4 workers); "classic-queue" is client-go's rate-limited
// queue (controller-runtime's other choice) holding the waits. The records themselves are not
// counted (the controller keeps them either way; the schedule does not make them larger).
// Run it with -benchtime=1x: a second iteration's baseline still holds the first one's queue
// (its goroutines end after ShutDown), and reads near zero.
func BenchmarkIdleSiteMemory(b *testing.B) {
	const n = 10000
	keys := make([]reconcile.Request, n)
	for i := range keys {
		keys[i] = reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "sites", Name: fmt.Sprintf("s%05d", i)}}
	}
	var records siteRecords
	for _, k := range keys {
		records.store(k.NamespacedName, siteRecord{written: "1"})
	}
	for _, name := range []string{"queue", "schedule", "admitted", "classic-queue"} {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				before := testworld.LiveHeap()
				q := benchQueue(name)
				floodThenIdle(q, keys, func(k reconcile.Request) {
					if name == "schedule" || name == "admitted" {
						records.scheduleResync(k.NamespacedName, 10*time.Minute)
					} else {
						q.AddAfter(k, 10*time.Minute)
					}
				})
				b.ReportMetric(float64(int64(testworld.LiveHeap())-int64(before))/n, "B/site")
				q.ShutDown()
				runtime.KeepAlive(q)
			}
		})
	}
}

func benchQueue(name string) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	switch name {
	case "admitted":
		return newAdmissionQueue("bench-"+name, 4, workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	case "classic-queue":
		return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request](),
			workqueue.TypedRateLimitingQueueConfig[reconcile.Request]{Name: "bench-" + name})
	}
	return priorityqueue.New[reconcile.Request]("bench-" + name)
}

// floodThenIdle adds every key, then takes each as a worker would and lets idle decide its wait.
func floodThenIdle(q workqueue.TypedRateLimitingInterface[reconcile.Request], keys []reconcile.Request, idle func(reconcile.Request)) {
	for _, k := range keys {
		addAtLowPriority(q, k) // as the initial list adds them
	}
	for range keys {
		k, _ := q.Get()
		idle(k)
		q.Done(k)
		q.Forget(k)
	}
	time.Sleep(100 * time.Millisecond) // the queue files its adds asynchronously
}

// BenchmarkTakeDue is the schedule's cost per tick with 10,000 sites, one of them due (at a
// 10-minute resync period about 17 are due each second).
func BenchmarkTakeDue(b *testing.B) {
	var s siteRecords
	for i := range 10000 {
		k := types.NamespacedName{Namespace: "sites", Name: fmt.Sprintf("s%05d", i)}
		s.store(k, siteRecord{written: "1"})
		s.scheduleResync(k, time.Duration(i)*time.Second)
	}
	now := time.Now()
	b.ResetTimer()
	for i := range b.N {
		s.takeDue(now.Add(time.Duration(i%10000)*time.Second), 64)
	}
}
