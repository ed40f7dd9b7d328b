package controllers

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Bounded admission to the work queue. controller-runtime's priority queue keeps a map entry per
// item (and its metrics a second map, of add times), and Go maps never shrink: one flood of
// 10,000 sites (the informer's initial list at start-up, a mass creation, a class change that
// re-checks every site, a batch of resyncs coming due together) left maps sized for 10,000 for the
// life of the process, about 190 bytes per idle site. The admission queue lets into the priority
// queue only a working set of a few times the reconcile workers; the rest waits in a backlog (a
// map and two slices, dropped when the backlog drains) and is let in as passes end, in the order
// it came, events that should come first (a user's edit, a deletion, an issuance result) ahead of
// bulk work (the initial list, creations, resyncs, drift, grants).

// admissionBacklog shows a flood that workqueue_depth no longer shows: the sites waiting for
// admission. Resyncs that are due but not yet taken wait in their records and are not counted.
var admissionBacklog = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "securesite_workqueue_backlog",
	Help: "Sites waiting to enter the work queue, which holds a few per reconcile worker.",
})

func init() {
	ctrlmetrics.Registry.MustRegister(admissionBacklog)
}

// admissionPerWorker is the working set per reconcile worker: enough ready items that a worker
// that ends a pass always finds the next one waiting.
const admissionPerWorker = 4

// admissionQueue is the controller's queue: a priority queue that holds at most a working set of
// ready or in-progress items; adds beyond it wait in a backlog. Waits a pass asked for (AddAfter)
// and retries (AddRateLimited) go straight to the priority queue: their sites are in work, and a
// wait holds no worker.
type admissionQueue struct {
	priorityqueue.PriorityQueue[reconcile.Request]
	bound int
	// busy counts the items handed out by Get and not yet Done.
	busy atomic.Int64
	// freed is signalled when a pass ends, for the resync schedule (see resyncSource).
	freed chan struct{}

	mu sync.Mutex
	// backlog maps each waiting key to the priority it was added with; urgent (priority 0 and
	// above) and bulk (below 0) list the keys in the order they came. A key raised from bulk to
	// urgent stays in bulk as a stale entry, skipped when reached.
	backlog      map[reconcile.Request]int
	urgent, bulk []reconcile.Request
}

// newAdmissionQueue is a priority queue named name (its workqueue metrics keep that name) that
// holds at most admissionPerWorker items per worker.
func newAdmissionQueue(name string, workers int, rateLimiter workqueue.TypedRateLimiter[reconcile.Request]) *admissionQueue {
	return &admissionQueue{
		PriorityQueue: priorityqueue.New(name, func(o *priorityqueue.Opts[reconcile.Request]) { o.RateLimiter = rateLimiter }),
		bound:         admissionPerWorker * max(1, workers),
		freed:         make(chan struct{}, 1),
	}
}

func (q *admissionQueue) Add(item reconcile.Request) {
	q.AddWithOpts(priorityqueue.AddOpts{}, item)
}

// AddWithOpts admits the items at once while the working set has room, and keeps the rest in the
// backlog.
func (q *admissionQueue) AddWithOpts(o priorityqueue.AddOpts, items ...reconcile.Request) {
	if o.After > 0 || o.RateLimited {
		q.PriorityQueue.AddWithOpts(o, items...)
		return
	}
	priority := 0
	if o.Priority != nil {
		priority = *o.Priority
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, item := range items {
		if len(q.backlog) == 0 && q.inWork() < q.bound {
			q.PriorityQueue.AddWithOpts(priorityqueue.AddOpts{Priority: &priority}, item)
			continue
		}
		q.wait(item, priority)
	}
	q.admit()
}

// wait puts a key in the backlog, or raises the priority of the key already there.
func (q *admissionQueue) wait(item reconcile.Request, priority int) {
	old, waiting := q.backlog[item]
	switch {
	case !waiting:
		if q.backlog == nil {
			q.backlog = map[reconcile.Request]int{}
		}
		q.enlist(item, priority)
	case priority > old:
		if old < 0 && priority >= 0 {
			q.urgent = append(q.urgent, item)
		}
	default:
		return
	}
	q.backlog[item] = priority
}

func (q *admissionQueue) enlist(item reconcile.Request, priority int) {
	if priority >= 0 {
		q.urgent = append(q.urgent, item)
	} else {
		q.bulk = append(q.bulk, item)
	}
}

// admit moves keys from the backlog into the priority queue while the working set has room,
// urgent first, each lane in the order it came.
func (q *admissionQueue) admit() {
	for len(q.backlog) > 0 && q.inWork() < q.bound {
		item, priority, ok := q.next()
		if !ok {
			break
		}
		q.PriorityQueue.AddWithOpts(priorityqueue.AddOpts{Priority: &priority}, item)
	}
	admissionBacklog.Set(float64(len(q.backlog)))
	if len(q.backlog) == 0 {
		// Drained: the map and the slices go, with the size the flood gave them.
		q.backlog, q.urgent, q.bulk = nil, nil, nil
	}
}

// next takes the backlog's next key: the oldest urgent one, else the oldest bulk one.
func (q *admissionQueue) next() (reconcile.Request, int, bool) {
	for len(q.urgent) > 0 {
		item := q.urgent[0]
		q.urgent = q.urgent[1:]
		if p, ok := q.backlog[item]; ok && p >= 0 {
			delete(q.backlog, item)
			return item, p, true
		}
	}
	for len(q.bulk) > 0 {
		item := q.bulk[0]
		q.bulk = q.bulk[1:]
		if p, ok := q.backlog[item]; ok && p < 0 {
			delete(q.backlog, item)
			return item, p, true
		}
	}
	return reconcile.Request{}, 0, false
}

// inWork is the items ready in the priority queue plus those being reconciled.
func (q *admissionQueue) inWork() int {
	return q.PriorityQueue.Len() + int(q.busy.Load())
}

// room is how many more items the working set takes now, backlog included.
func (q *admissionQueue) room() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bound - q.inWork() - len(q.backlog)
}

// Len counts the items ready in the priority queue and those waiting for admission.
func (q *admissionQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.PriorityQueue.Len() + len(q.backlog)
}

func (q *admissionQueue) Get() (reconcile.Request, bool) {
	item, _, shutdown := q.GetWithPriority()
	return item, shutdown
}

// GetWithPriority hands out the next item; a wake of the same site still waiting in the backlog
// is dropped: it came before this pass, which reads the site as it is now. During a flood a new
// site's pass waits for Route53 (its own requeue) and is also woken by Route53's answer as bulk
// work; the wake reached the front of the backlog minutes after the requeue's pass had made the
// site Ready, and ran a second, empty pass for every site of the flood, holding back the resyncs
// that wait for the backlog to drain.
func (q *admissionQueue) GetWithPriority() (reconcile.Request, int, bool) {
	item, priority, shutdown := q.PriorityQueue.GetWithPriority()
	if shutdown {
		return item, priority, shutdown
	}
	q.busy.Add(1)
	q.mu.Lock()
	if _, waiting := q.backlog[item]; waiting {
		// Its place in urgent or bulk is skipped when reached (next).
		delete(q.backlog, item)
		q.admit()
	}
	q.mu.Unlock()
	return item, priority, shutdown
}

// Done ends a pass: its place in the working set goes to the backlog's next key.
func (q *admissionQueue) Done(item reconcile.Request) {
	q.PriorityQueue.Done(item)
	q.busy.Add(-1)
	q.mu.Lock()
	q.admit()
	q.mu.Unlock()
	select {
	case q.freed <- struct{}{}:
	default:
	}
}

// addAtLowPriority adds a request as bulk work, behind users' edits.
func addAtLowPriority(q workqueue.TypedRateLimitingInterface[reconcile.Request], req reconcile.Request) {
	atLowPriority(q).Add(req)
}

// lowPriorityQueue is a queue whose adds are all bulk work.
type lowPriorityQueue struct {
	priorityqueue.PriorityQueue[reconcile.Request]
}

func (q lowPriorityQueue) Add(item reconcile.Request) {
	q.AddWithOpts(priorityqueue.AddOpts{}, item)
}

func (q lowPriorityQueue) AddWithOpts(o priorityqueue.AddOpts, items ...reconcile.Request) {
	o.Priority = new(handler.LowPriority)
	q.PriorityQueue.AddWithOpts(o, items...)
}

// atLowPriority is q with every add made bulk work.
func atLowPriority(q workqueue.TypedRateLimitingInterface[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		return lowPriorityQueue{pq}
	}
	return q
}

// lowPriorityEvents makes every request a handler adds bulk work: sources that wake many sites at
// once (a class change, a namespace's labels, a zone's drift) must not go ahead of a user's edit.
type lowPriorityEvents struct {
	handler.TypedEventHandler[client.Object, reconcile.Request]
}

func (h lowPriorityEvents) Create(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.TypedEventHandler.Create(ctx, e, atLowPriority(q))
}

func (h lowPriorityEvents) Update(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.TypedEventHandler.Update(ctx, e, atLowPriority(q))
}

func (h lowPriorityEvents) Delete(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.TypedEventHandler.Delete(ctx, e, atLowPriority(q))
}

func (h lowPriorityEvents) Generic(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.TypedEventHandler.Generic(ctx, e, atLowPriority(q))
}

// siteEvents is the SecureSites' own event handler (in place of the builder's default for For):
// a site that appears (in the informer's initial list or newly created, one or ten thousand at
// once) is bulk work, taken in the order it came; an edit that passed the predicates (generation
// or annotations) and a deletion come first, so a user's change is handled promptly however long
// the backlog.
type siteEvents struct{}

func requestFor(o client.Object) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}}
}

func (siteEvents) Create(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if e.Object != nil {
		addAtLowPriority(q, requestFor(e.Object))
	}
}

func (siteEvents) Update(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if e.ObjectNew != nil {
		q.Add(requestFor(e.ObjectNew))
	}
}

func (siteEvents) Delete(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if e.Object != nil {
		q.Add(requestFor(e.Object))
	}
}

func (siteEvents) Generic(_ context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if e.Object != nil {
		addAtLowPriority(q, requestFor(e.Object))
	}
}
