package controllers

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func request(i int) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "sites", Name: fmt.Sprintf("s%04d", i)}}
}

// TestAdmissionQueue: a flood of bulk adds holds no more than the working set in the priority
// queue; every key is handed out once, in the order it came; a key added as urgent while the
// backlog is long (a user's edit) is handed out before the backlog, also when it was already
// waiting in it; the backlog's memory goes when it drains.
func TestAdmissionQueue(t *testing.T) {
	const workers, n = 2, 1000
	q := newAdmissionQueue("", workers, workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	for i := range n {
		addAtLowPriority(q, request(i))
	}
	if got := q.PriorityQueue.Len(); got != q.bound {
		t.Fatalf("priority queue holds %d after the flood, want the working set %d", got, q.bound)
	}
	if got := q.Len(); got != n {
		t.Fatalf("Len %d, want %d", got, n)
	}
	if got := testutil.ToFloat64(admissionBacklog); got != float64(n-q.bound) {
		t.Fatalf("securesite_workqueue_backlog %v, want %d", got, n-q.bound)
	}
	edited := request(n - 1) // the last of the flood, waiting in the backlog
	q.Add(edited)
	q.Add(request(n)) // a new key, urgent

	first, _ := q.Get()
	q.Done(first)
	var order []reconcile.Request
	for range n { // n+1 keys, first among them
		if in := q.PriorityQueue.Len() + int(q.busy.Load()); in > q.bound {
			t.Fatalf("%d ready or in progress, bound %d", in, q.bound)
		}
		k, shutdown := q.Get()
		if shutdown {
			t.Fatal("queue shut down")
		}
		order = append(order, k)
		q.Done(k)
	}
	order = append([]reconcile.Request{first}, order...)
	checkAdmissionOrder(t, order, n, q.bound, edited)
	if got := testutil.ToFloat64(admissionBacklog); got != 0 {
		t.Errorf("securesite_workqueue_backlog %v after draining", got)
	}
	if q.backlog != nil || q.urgent != nil || q.bulk != nil {
		t.Errorf("backlog kept after draining: %d keys, %d+%d slots", len(q.backlog), cap(q.urgent), cap(q.bulk))
	}
}

// TestAdmissionQueuePassesWaitsThrough: a pass's own wait (RequeueAfter) and a retry do not wait
// for admission; a low-priority source cannot lower an urgent key.
func TestAdmissionQueuePassesWaitsThrough(t *testing.T) {
	q := newAdmissionQueue("", 1, workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	for i := range 10 {
		addAtLowPriority(q, request(i))
	}
	q.AddAfter(request(100), 10*time.Millisecond)
	lowPriorityQueue{q}.Add(request(101))
	q.Add(request(101))
	q.AddWithOpts(priorityqueue.AddOpts{Priority: new(handler.LowPriority)}, request(101))
	if p := q.backlog[request(101)]; p != 0 {
		t.Errorf("urgent key lowered to priority %d", p)
	}
	time.Sleep(50 * time.Millisecond)
	if got := q.PriorityQueue.Len(); got != q.bound+1 {
		t.Fatalf("priority queue holds %d, want the working set %d and the wait that came due", got, q.bound)
	}
}

// TestAdmissionQueueDropsWakesAPassCovers: a site waiting in the backlog whose pass starts for
// another reason (its own requeue came due) is not handed out again when the backlog reaches it:
// the wake came before that pass, which read the site as it was after the wake. A wake that comes
// during the pass still gets a pass of its own.
func TestAdmissionQueueDropsWakesAPassCovers(t *testing.T) {
	q := newAdmissionQueue("", 1, workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	for i := range q.bound { // the working set is full
		addAtLowPriority(q, request(i))
	}
	woken, later := request(100), request(101)
	addAtLowPriority(q, woken) // Route53's answer: waits in the backlog
	addAtLowPriority(q, later)
	q.AddAfter(woken, time.Millisecond) // the site's own requeue, straight to the priority queue
	time.Sleep(20 * time.Millisecond)
	handedOut := map[reconcile.Request]int{}
	for range q.bound + 2 {
		k, shutdown := q.Get()
		if shutdown {
			t.Fatal("queue shut down")
		}
		handedOut[k]++
		if k == later {
			addAtLowPriority(q, later) // a wake during the pass
		}
		q.Done(k)
	}
	if handedOut[woken] != 1 {
		t.Errorf("%s handed out %d times, want once: its wake waited for a pass that had already run", woken, handedOut[woken])
	}
	if k, _ := q.Get(); k != later || handedOut[later] != 1 {
		t.Errorf("the wake during %s's pass got no pass of its own (next %s, handed out %d times)", later, k, handedOut[later])
	}
	if q.Len() != 0 {
		t.Errorf("%d left in the queue", q.Len())
	}
}

// checkAdmissionOrder: each of the n+1 keys handed out once; the two urgent keys (edited and
// request(n)) right after the working set admitted before them; the flood in the order it came.
func checkAdmissionOrder(t *testing.T, order []reconcile.Request, n, bound int, edited reconcile.Request) {
	t.Helper()
	// The working set admitted before the edit goes first; the two urgent keys right after.
	pos := map[reconcile.Request]int{}
	for i, k := range order {
		if _, dup := pos[k]; dup {
			t.Fatalf("%s handed out twice", k)
		}
		pos[k] = i
	}
	if len(pos) != n+1 {
		t.Fatalf("handed out %d keys, want %d", len(pos), n+1)
	}
	for _, k := range []reconcile.Request{edited, request(n)} {
		if pos[k] > bound+2 {
			t.Errorf("urgent %s handed out at %d, behind the backlog (working set %d)", k, pos[k], bound)
		}
	}
	for i := 1; i < n-1; i++ {
		if pos[request(i)] < pos[request(i-1)] {
			t.Fatalf("%s before %s: the backlog is not in the order it came", request(i), request(i-1))
		}
	}
}
