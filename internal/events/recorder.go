// Package events records the controller's Kubernetes Events (events.k8s.io/v1). It does what
// client-go's events broadcaster does for one controller — the same event again on the same
// object (same type, reason, action and related object) within six minutes becomes a series on
// the first Event, patched when the series starts, when it ends and every half hour, instead of
// a new Event each time — but it remembers at most a few thousand recent events. client-go's
// broadcaster keeps every Event it wrote for six to twelve minutes: 10,000 sites converging at
// once held about 25 MB of Events in the controller's memory that way.
package events

import (
	"container/list"
	"fmt"
	"hash/maphash"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/tools/record/util"
	"k8s.io/client-go/tools/reference"
)

// client-go's figures, kept so that Events look and repeat as they did.
const (
	seriesWindow    = 6 * time.Minute  // a repeat within this becomes a series; a series idle this long is finished
	seriesRefresh   = 30 * time.Minute // a running series is written again this often
	maxQueuedEvents = 1000             // writes waiting; more are dropped, as client-go drops them
	writers         = 4
)

// DefaultRemembered bounds the events kept for series: with more distinct recent events than
// this, the least recently seen is forgotten (a repeat of it starts a new Event).
const DefaultRemembered = 4096

// Recorder writes Events for one controller. It implements controller-runtime's
// recorder.EventRecorder; Start (a manager Runnable) writes them.
type Recorder struct {
	client     eventsv1client.EventsGetter
	scheme     *runtime.Scheme
	controller string
	instance   string
	log        logr.Logger
	now        func() time.Time
	max        int

	queue chan *eventsv1.Event

	mu          sync.Mutex
	seed        maphash.Seed
	recent      map[uint64]*list.Element // of *remembered, by seriesKey
	order       *list.List               // least recently seen first
	lastRefresh time.Time
}

// remembered is a recent event: the fields its Event is written from, its series so far, and
// when it was last seen. It is kept under the hash of what makes two events the same for a series
// (client-go's isomorphic key: type, action, reason, the regarding and related objects). Up to
// 4,096 are remembered while thousands of sites converge; a whole Event (600 bytes of mostly empty
// metadata) and a map key copying the series key's 17 strings made each cost ~1.5 KB.
type remembered struct {
	key                             uint64
	last                            time.Time
	name, namespace                 string
	annotations                     map[string]string
	eventTime                       metav1.MicroTime
	eventType, action, reason, note string
	regarding                       corev1.ObjectReference
	related                         *corev1.ObjectReference
	series                          *eventsv1.EventSeries // nil until the event repeats
}

func rememberedFrom(key uint64, ev *eventsv1.Event) *remembered {
	return &remembered{key: key, last: ev.EventTime.Time, name: ev.Name, namespace: ev.Namespace, annotations: ev.Annotations,
		eventTime: ev.EventTime, eventType: ev.Type, action: ev.Action, reason: ev.Reason, note: ev.Note,
		regarding: ev.Regarding, related: ev.Related}
}

// event is the Event as written, with the series so far (a copy: the writers send it while
// the series goes on).
func (r *Recorder) event(m *remembered) *eventsv1.Event {
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: m.name, Namespace: m.namespace, Annotations: maps.Clone(m.annotations)},
		EventTime:  m.eventTime, ReportingController: r.controller, ReportingInstance: r.instance,
		Action: m.action, Reason: m.reason, Regarding: m.regarding, Note: m.note, Type: m.eventType,
	}
	if m.related != nil {
		ev.Related = new(*m.related)
	}
	if m.series != nil {
		ev.Series = new(*m.series)
	}
	return ev
}

// seriesKey hashes what makes two events the same for a series; sameSeries decides (two events
// whose hashes collide are not the same: the one remembered is forgotten, and the other starts its
// own Event).
func (r *Recorder) seriesKey(ev *eventsv1.Event) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	related := deref(ev.Related)
	for _, s := range [...]string{ev.Type, ev.Action, ev.Reason,
		ev.Regarding.Kind, ev.Regarding.Namespace, ev.Regarding.Name, string(ev.Regarding.UID), ev.Regarding.APIVersion, ev.Regarding.ResourceVersion, ev.Regarding.FieldPath,
		related.Kind, related.Namespace, related.Name, string(related.UID), related.APIVersion, related.ResourceVersion, related.FieldPath} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	return h.Sum64()
}

func sameSeries(m *remembered, ev *eventsv1.Event) bool {
	return m.eventType == ev.Type && m.action == ev.Action && m.reason == ev.Reason && m.regarding == ev.Regarding && deref(m.related) == deref(ev.Related)
}

func deref(ref *corev1.ObjectReference) corev1.ObjectReference {
	if ref == nil {
		return corev1.ObjectReference{}
	}
	return *ref
}

// New returns a recorder writing Events as reportingController (reportingInstance is
// controller-hostname, as client-go names it).
func New(client eventsv1client.EventsGetter, scheme *runtime.Scheme, controller string, log logr.Logger) *Recorder {
	host, _ := os.Hostname()
	return &Recorder{
		client: client, scheme: scheme, controller: controller, instance: controller + "-" + host, log: log,
		now: time.Now, max: DefaultRemembered,
		queue: make(chan *eventsv1.Event, maxQueuedEvents),
		seed:  maphash.MakeSeed(), recent: map[uint64]*list.Element{}, order: list.New(),
	}
}

// Eventf records an event about regarding (related may be nil).
func (r *Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	r.AnnotatedEventf(regarding, related, nil, eventtype, reason, action, note, args...)
}

// AnnotatedEventf is Eventf with annotations on the Event.
func (r *Recorder) AnnotatedEventf(regarding, related runtime.Object, annotations map[string]string, eventtype, reason, action, note string, args ...any) {
	message := fmt.Sprintf(note, args...)
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		r.log.Error(err, "Could not construct reference, will not report event", "reason", reason, "message", message)
		return
	}
	var relatedRef *corev1.ObjectReference
	if related != nil {
		if relatedRef, err = reference.GetReference(r.scheme, related); err != nil {
			r.log.V(4).Info("Could not construct reference to the related object", "err", err.Error())
		}
	}
	if !util.ValidateEventType(eventtype) {
		r.log.Error(nil, "Unsupported event type", "eventType", eventtype)
		return
	}
	// As controller-runtime's recorder did: every event is also a debug line in the manager's log.
	r.log.V(1).Info(message, "type", eventtype, "object", ref, "reason", reason)
	now := r.now()
	ns := ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	r.observe(&eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: util.GenerateEventName(ref.Name, now.UnixNano()), Namespace: ns, Annotations: annotations},
		EventTime:  metav1.NewMicroTime(now), ReportingController: r.controller, ReportingInstance: r.instance,
		Action: action, Reason: reason, Regarding: *ref, Related: relatedRef, Note: message, Type: eventtype,
	})
}

// observe writes a new Event, or counts a repeat into the series of the one remembered.
func (r *Recorder) observe(ev *eventsv1.Event) {
	k := r.seriesKey(ev)
	now := ev.EventTime.Time
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.recent[k]; ok {
		m := el.Value.(*remembered)
		if sameSeries(m, ev) && now.Sub(m.last) < seriesWindow {
			m.last = now
			r.order.MoveToBack(el)
			if m.series != nil {
				m.series.Count++
				m.series.LastObservedTime = metav1.NewMicroTime(now)
				return
			}
			m.series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(now)}
			r.enqueue(r.event(m))
			return
		}
		r.forget(el)
	}
	for r.order.Len() >= r.max {
		r.forget(r.order.Front())
	}
	r.recent[k] = r.order.PushBack(rememberedFrom(k, ev))
	r.enqueue(ev) // not kept: what is remembered is a copy of its fields
}

// forget drops a remembered event, writing its series' final count first.
func (r *Recorder) forget(el *list.Element) {
	m := r.order.Remove(el).(*remembered)
	delete(r.recent, m.key)
	if m.series != nil {
		r.enqueue(r.event(m))
	}
}

// expire finishes the series and forgets the events not seen for seriesWindow, and writes the
// running series again every seriesRefresh (client-go's finishSeries and refresh).
func (r *Recorder) expire() {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for el := r.order.Front(); el != nil; {
		next := el.Next()
		if m := el.Value.(*remembered); now.Sub(m.last) >= seriesWindow {
			r.forget(el)
		}
		el = next
	}
	if now.Sub(r.lastRefresh) < seriesRefresh {
		return
	}
	r.lastRefresh = now
	for el := r.order.Front(); el != nil; el = el.Next() {
		if m := el.Value.(*remembered); m.series != nil {
			r.enqueue(r.event(m))
		}
	}
}

func (r *Recorder) enqueue(ev *eventsv1.Event) {
	select {
	case r.queue <- ev:
	default:
		r.log.V(2).Info("event queue full, event dropped", "reason", ev.Reason, "regarding", ev.Regarding.Name)
	}
}

// Len is the number of events remembered for series.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.order.Len()
}
