package events

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/securesite-io/securesite/internal/testworld"
)

// fakeNow is a clock the test moves.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

// Against a real API server: a repeated event becomes a series on the first Event (its count
// written when the series starts and when it ends), a different event is a new Event, and the
// recorder remembers no more events than its bound while still writing every one.
func TestEventsRepeatAsSeriesWithBoundedMemory(t *testing.T) {
	env, cfg, err := testworld.StartAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	g := NewWithT(t)
	k := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cm, err := k.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "site"}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	clock := &fakeNow{t: time.Now()}
	r := New(k.EventsV1(), clientgoscheme.Scheme, "securesite-controller", logr.Discard())
	r.now, r.max = clock.now, 3
	go func() { _ = r.Start(ctx) }()
	events := func() []eventsv1.Event {
		l, err := k.EventsV1().Events("default").List(ctx, metav1.ListOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return l.Items
	}
	seriesCount := func(reason string) func() int32 {
		return func() int32 {
			for _, e := range events() {
				if e.Reason == reason && e.Series != nil {
					return e.Series.Count
				}
			}
			return 0
		}
	}

	r.Eventf(cm, nil, corev1.EventTypeWarning, "Failed", "Reconcile", "attempt %d", 1)
	g.Eventually(events).Should(HaveLen(1))
	clock.add(time.Second)
	r.Eventf(cm, nil, corev1.EventTypeWarning, "Failed", "Reconcile", "attempt %d", 2)
	g.Eventually(seriesCount("Failed")).Should(Equal(int32(2)))
	clock.add(time.Second)
	r.Eventf(cm, nil, corev1.EventTypeWarning, "Failed", "Reconcile", "attempt %d", 3)
	g.Consistently(seriesCount("Failed"), "500ms").Should(Equal(int32(2)), "a running series is not written on every repeat")
	g.Expect(events()).To(HaveLen(1))
	g.Expect(events()[0].Note).To(Equal("attempt 1"))

	// Finished: not seen for the series window, its final count is written and it is forgotten.
	clock.add(seriesWindow)
	r.expire()
	g.Eventually(seriesCount("Failed")).Should(Equal(int32(3)))
	g.Expect(r.Len()).To(Equal(0))

	for _, reason := range []string{"A", "B", "C", "D", "E"} {
		clock.add(time.Millisecond) // Event names are the object's name and the time
		r.Eventf(cm, nil, corev1.EventTypeNormal, reason, "Reconcile", "%s happened", reason)
	}
	g.Expect(r.Len()).To(Equal(3), "remembers at most its bound")
	g.Eventually(events).Should(HaveLen(6), "every event is written")
}

// Two different events whose series hashes collide are not one series: the one remembered is
// forgotten and the other is written as its own Event.
func TestCollidingEventsAreNotASeries(t *testing.T) {
	g := NewWithT(t)
	r := New(nil, clientgoscheme.Scheme, "securesite-controller", logr.Discard())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	event := func(name string) *eventsv1.Event {
		return &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: name + ".1", Namespace: "ns"}, EventTime: metav1.NewMicroTime(now),
			Type: corev1.EventTypeNormal, Reason: "Issued", Action: "Reconcile", Regarding: corev1.ObjectReference{Kind: "SecureSite", Namespace: "ns", Name: name}}
	}
	first, second := event("a"), event("b")
	r.observe(first)
	<-r.queue
	// Make the first remembered under the second's hash, as a collision would.
	el := r.recent[r.seriesKey(first)]
	delete(r.recent, r.seriesKey(first))
	el.Value.(*remembered).key = r.seriesKey(second)
	r.recent[r.seriesKey(second)] = el
	r.observe(second)
	written := <-r.queue
	g.Expect(written.Name).To(Equal("b.1"))
	g.Expect(written.Series).To(BeNil(), "written as a new Event, not as a series of the first")
	g.Expect(r.Len()).To(Equal(1))
}
