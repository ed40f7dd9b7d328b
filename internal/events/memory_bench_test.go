package events

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/testworld"
)

// BenchmarkRememberedMemory reports what the recorder holds for its recent events: "remembered"
// per event while DefaultRemembered distinct events are recent (sites converging), and "idle"
// per event it had remembered once they have all expired (a controller left alone). Written
// events are drained as the writers would. Run with -benchtime=1x.
func BenchmarkRememberedMemory(b *testing.B) {
	scheme := clientgoscheme.Scheme
	_ = v1alpha1.AddToScheme(scheme)
	for range b.N {
		clock := &fakeNow{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		before := testworld.LiveHeap()
		r := New(nil, scheme, "securesite-controller", logr.Discard())
		r.now = clock.now
		for i := range DefaultRemembered {
			site := &v1alpha1.SecureSite{}
			site.Namespace, site.Name = fmt.Sprintf("ns-%d", i%50), fmt.Sprintf("site-%05d", i)
			site.UID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
			site.ResourceVersion = fmt.Sprint(100000 + i)
			r.Eventf(site, nil, corev1.EventTypeNormal, "CertificateIssued", "Reconcile", "certificate issued for %s, valid until %s", site.Name, "2026-03-01T00:00:00Z")
			drain(r)
		}
		held := testworld.LiveHeap()
		clock.add(seriesWindow)
		r.expire()
		drain(r)
		idle := testworld.LiveHeap()
		b.ReportMetric(float64(int64(held)-int64(before))/DefaultRemembered, "B/remembered")
		b.ReportMetric(float64(int64(idle)-int64(before))/DefaultRemembered, "B/idle")
		runtime.KeepAlive(r)
	}
}

func drain(r *Recorder) {
	for {
		select {
		case <-r.queue:
		default:
			return
		}
	}
}
