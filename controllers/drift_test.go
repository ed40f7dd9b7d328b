package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/manager"
	"github.com/securesite-io/securesite/internal/records"
)

// TestDriftRepairedWithinAMinute runs the manager with the defaults a user gets (10-minute
// resync, 1-minute drift check, default Route53 snapshot): an owned record changed by hand and
// one deleted by hand are both restored within the drift check interval, with no annotation
// poke, and the zone is read once per check however many sites it holds.
func TestDriftRepairedWithinAMinute(t *testing.T) {
	const sites = 20
	e := startEnvWith(t, func(_ *env, o *manager.Options) {
		o.ResyncPeriod = 10 * time.Minute
		o.DriftCheckInterval = 0
		o.Route53 = records.Options{}
	})
	zoneID := e.w.CreateHostedZone(context.Background(), "drift.test")
	ns := e.namespace("drift")
	addr := func(i int) string { return fmt.Sprintf("203.0.113.%d", i+1) }
	for i := range sites {
		e.create(backendSite(ns, fmt.Sprintf("s%02d", i), "drift.test", fmt.Sprintf("api%02d.drift.test", i), addr(i)))
	}
	for i := range sites {
		e.waitCondition(ns, fmt.Sprintf("s%02d", i), v1alpha1.ConditionReady, metav1.ConditionTrue, "", 60*time.Second)
	}

	lists := func() float64 { return awsclient.CallCount("Route 53", "ListResourceRecordSets") }
	listsBefore, foundBefore := lists(), driftedSitesFound()
	start := time.Now()
	e.handWrite(zoneID, r53types.ChangeActionUpsert, "api00.drift.test", "A", "198.51.100.66")
	e.handWrite(zoneID, r53types.ChangeActionDelete, "api01.drift.test", "A", addr(1))
	want := map[string]string{"api00.drift.test": addr(0), "api01.drift.test": addr(1)}
	restored, seen := e.waitRestored(zoneID, want, func() bool { return driftedSitesFound()-foundBefore >= 2 })

	last := restored["api00.drift.test"]
	if r := restored["api01.drift.test"]; r.After(last) {
		last = r
	}
	took, repair := last.Sub(start), last.Sub(seen)
	t.Logf("hand edits seen by the drift check after %s; changed record restored %s later, deleted record %s later",
		seen.Sub(start).Round(100*time.Millisecond), restored["api00.drift.test"].Sub(seen).Round(10*time.Millisecond),
		restored["api01.drift.test"].Sub(seen).Round(10*time.Millisecond))
	// The check runs every interval, so an edit made just after one is seen a whole interval
	// later: the worst case is the interval plus the check plus the repair. The repair after
	// the check saw the edit is what the controller adds; it must be short.
	if repair > 2*time.Second {
		t.Errorf("records restored %s after the drift check found them; want within 2 s", repair)
	}
	if took > manager.DefaultDriftCheckInterval+2*time.Second {
		t.Errorf("drift repaired after %s; want within the %s drift check (+ the repair itself)", took, manager.DefaultDriftCheckInterval)
	}
	// kumo does not paginate: one check is one list. Reads follow checks, not sites.
	if n := lists() - listsBefore; n > 2 {
		t.Errorf("%v ListResourceRecordSets calls for %d sites over one drift check; want one per check", n, sites)
	}
}

// driftedSitesFound is how many drifted sites the drift checks of this process have found.
func driftedSitesFound() float64 {
	m := &dto.Metric{}
	_ = records.DriftRepairs.Write(m)
	return m.GetCounter().GetValue()
}

// waitRestored waits until each record (name → value, A) is back, and returns when each was
// first seen back and when found() first held.
func (e *env) waitRestored(zoneID string, want map[string]string, found func() bool) (map[string]time.Time, time.Time) {
	e.t.Helper()
	restored := map[string]time.Time{}
	var seen time.Time
	e.eventually(manager.DefaultDriftCheckInterval+10*time.Second, "hand edits undone", func() string {
		if seen.IsZero() && found() {
			seen = time.Now()
		}
		recs := e.records(zoneID)
		for name, value := range want {
			if _, done := restored[name]; !done && slices.Equal(values(recs["A "+name]), []string{value}) {
				restored[name] = time.Now()
			}
		}
		if len(restored) < len(want) || seen.IsZero() {
			return fmt.Sprintf("restored so far: %v; drift found: %v", restored, !seen.IsZero())
		}
		return ""
	})
	return restored, seen
}
