package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
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
	listsBefore := lists()
	start := time.Now()
	e.handWrite(zoneID, r53types.ChangeActionUpsert, "api00.drift.test", "A", "198.51.100.66")
	e.handWrite(zoneID, r53types.ChangeActionDelete, "api01.drift.test", "A", addr(1))

	restored := map[string]time.Duration{}
	e.eventually(manager.DefaultDriftCheckInterval+10*time.Second, "hand edits undone", func() string {
		recs := e.records(zoneID)
		for i, name := range []string{"api00.drift.test", "api01.drift.test"} {
			if _, done := restored[name]; done {
				continue
			}
			if v := values(recs["A "+name]); slices.Equal(v, []string{addr(i)}) {
				restored[name] = time.Since(start)
			}
		}
		if len(restored) < 2 {
			return fmt.Sprintf("restored so far: %v", restored)
		}
		return ""
	})
	took := max(restored["api00.drift.test"], restored["api01.drift.test"])
	t.Logf("changed record restored after %s, deleted record after %s", restored["api00.drift.test"].Round(100*time.Millisecond),
		restored["api01.drift.test"].Round(100*time.Millisecond))
	if took > manager.DefaultDriftCheckInterval+2*time.Second {
		t.Errorf("drift repaired after %s; want within the %s drift check (+ the repair itself)", took, manager.DefaultDriftCheckInterval)
	}
	// kumo does not paginate: one check is one list. Reads follow checks, not sites.
	if n := lists() - listsBefore; n > 2 {
		t.Errorf("%v ListResourceRecordSets calls for %d sites over one drift check; want one per check", n, sites)
	}
}
