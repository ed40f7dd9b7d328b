package controllers_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/manager"
)

// TestSiteFloodAdmittedAWorkingSetAtATime: sites created all at once (as a mass creation, or the
// informer's initial list at start-up) enter the work queue a few at a time, so the queue never
// holds more than its working set however many sites there are (the queue's maps never shrink,
// and kept the flood's size for good); every site still gets its pass; and an edit of a site made
// while the backlog is long is reconciled ahead of it, not after every site created before it.
func TestSiteFloodAdmittedAWorkingSetAtATime(t *testing.T) {
	const workers, flood = 1, 100
	const workingSet = 4 * workers // admissionPerWorker
	e := startEnvWith(t, func(_ *env, o *manager.Options) {
		o.MaxConcurrentReconciles = workers
		o.DriftCheckInterval = -1
	})
	ctx := context.Background()
	e.w.CreateHostedZone(ctx, "flood.test")
	ns := e.namespace("flood")
	selfSigned := func(name string) *v1alpha1.SecureSite {
		return site(ns, name, name+".flood.test", func(s *v1alpha1.SecureSite) { s.Spec.Certificate.Issuer = v1alpha1.IssuerSelfSigned })
	}
	e.create(selfSigned("edited"))
	e.waitCondition(ns, "edited", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 60*time.Second)

	peak, stop := sampleQueueDepth(t)
	start := time.Now()
	for i := range flood {
		e.create(selfSigned(fmt.Sprintf("s%03d", i)))
	}
	e.update(ns, "edited", func(s *v1alpha1.SecureSite) {
		s.Spec.Certificate.AdditionalDNSNames = []string{"www.edited.flood.test"}
	})
	want := e.get(ns, "edited").Generation
	pending := -1
	e.eventually(60*time.Second, "the edit reconciled", func() string {
		if g := e.get(ns, "edited").Status.ObservedGeneration; g != want {
			return fmt.Sprintf("observedGeneration %d, want %d", g, want)
		}
		pending = flood - passed(t, e, ns)
		return ""
	})
	t.Logf("edit reconciled with %d of the %d new sites still waiting for their first pass", pending, flood)
	if pending < flood/4 {
		t.Errorf("the edit waited behind the flood: reconciled only when %d of %d new sites were left", pending, flood)
	}
	e.eventually(3*time.Minute, "every site's first pass", func() string {
		if n := passed(t, e, ns); n < flood {
			return fmt.Sprintf("%d of %d", n, flood)
		}
		return ""
	})
	stop()
	t.Logf("every site had its first pass %s after the flood began; queue depth peaked at %d", time.Since(start).Round(100*time.Millisecond), peak.Load())
	if peak.Load() == 0 {
		t.Fatal("no workqueue_depth for the securesite queue: its metrics are gone")
	}
	if peak.Load() > workingSet {
		t.Errorf("queue depth peaked at %d, working set %d", peak.Load(), workingSet)
	}
}

// sampleQueueDepth records the securesite queue's deepest workqueue_depth until stop is called.
func sampleQueueDepth(t *testing.T) (peak *atomic.Int64, stop func()) {
	peak = &atomic.Int64{}
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if d := int64(queueDepth(t)); d > peak.Load() {
				peak.Store(d)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return peak, func() { close(done); <-sampled }
}

// passed counts the flood's sites (all but "edited") that have had a pass: they have conditions.
func passed(t *testing.T, e *env, ns string) int {
	t.Helper()
	var sites v1alpha1.SecureSiteList
	if err := e.k8s.List(context.Background(), &sites, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range sites.Items {
		if s.Name != "edited" && condition(&s, v1alpha1.ConditionReady) != nil {
			n++
		}
	}
	return n
}

// siteMetric sums a counter or gauge of the securesite controller over its series: those whose
// label (controller-runtime names the controller in "controller" or, for the queue, "name") is
// "securesite".
func siteMetric(t *testing.T, name, label string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabel(m, label, "securesite") {
				v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return v
}

// queueDepth is the securesite work queue's workqueue_depth, over all priorities.
func queueDepth(t *testing.T) float64 { return siteMetric(t, "workqueue_depth", "name") }

// sitePasses is how many passes the securesite controller has ended in this process
// (controller_runtime_reconcile_total, over all results).
func sitePasses(t *testing.T) float64 {
	return siteMetric(t, "controller_runtime_reconcile_total", "controller")
}
