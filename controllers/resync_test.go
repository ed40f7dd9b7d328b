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
	"github.com/securesite-io/securesite/internal/manager"
)

// TestResyncRepairsDriftWithoutPoke: a Ready site with a valid certificate is looked at again
// after --resync-period, so a record changed by hand comes back with nobody touching the site.
// (The certificate phase asks to be woken on the renewal day; that wait used to win, and drift
// stayed for up to a day.)
func TestResyncRepairsDriftWithoutPoke(t *testing.T) {
	const resync = 3 * time.Second
	e := startEnvWith(t, func(_ *env, o *manager.Options) {
		o.ResyncPeriod = resync
		o.DriftCheckInterval = -1 // off: this test is about the per-site resync alone
	})
	zoneID := e.w.CreateHostedZone(context.Background(), "resync.test")
	ns := e.namespace("resync")
	e.create(backendSite(ns, "idle", "resync.test", "api.resync.test", "203.0.113.10"))
	e.waitCondition(ns, "idle", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)

	e.handWrite(zoneID, r53types.ChangeActionUpsert, "api.resync.test", "A", "198.51.100.66")
	start := time.Now()
	e.eventually(10*resync, "hand edit undone by the resync", func() string {
		if v := values(e.records(zoneID)["A api.resync.test"]); !slices.Equal(v, []string{"203.0.113.10"}) {
			return fmt.Sprint(v)
		}
		return ""
	})
	t.Logf("restored %s after the hand edit (resync period %s)", time.Since(start).Round(100*time.Millisecond), resync)
}
