package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/awsclient"
)

func backendSite(ns, name, domain, host, address string) *v1alpha1.SecureSite {
	return site(ns, name, domain, func(s *v1alpha1.SecureSite) {
		s.Spec.Backend = &v1alpha1.BackendSpec{Hostname: host, Address: address, TTL: 300}
		// These tests are about DNS: a self-signed certificate keeps the CA out of them.
		s.Spec.Certificate.Issuer = v1alpha1.IssuerSelfSigned
	})
}

const registryValue = `"heritage=securesite,owner=` + testOwnerID + `/%s"`

func TestDNS(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	zoneID := e.w.CreateHostedZone(ctx, "duckhoo.test")

	t.Run("lifecycle: create, edit, drift repair, delete", func(t *testing.T) { testDNSLifecycle(t, e, zoneID) })
	t.Run("foreign record: conflict, untouched, kept on delete", func(t *testing.T) { testDNSForeignRecord(t, e, zoneID) })
	t.Run("two sites claim one name: the second gets the conflict", func(t *testing.T) { testDNSTwoSitesOneName(t, e, zoneID) })
	t.Run("suspend observes and writes nothing", func(t *testing.T) { testDNSSuspend(t, e, zoneID) })
}

func testDNSLifecycle(t *testing.T, e *env, zoneID string) {
	ctx := context.Background()
	ns := e.namespace("dns")
	e.create(backendSite(ns, "duckhoo", "duckhoo.test", "infra.duckhoo.test", "203.0.113.10"))
	s := e.waitCondition(ns, "duckhoo", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	if c := condition(s, v1alpha1.ConditionDNSReady); c.Status != metav1.ConditionTrue {
		t.Fatalf("DNSReady: %+v", c)
	}
	if s.Status.ObservedGeneration != s.Generation {
		t.Errorf("observedGeneration %d, generation %d", s.Status.ObservedGeneration, s.Generation)
	}
	recs := e.records(zoneID)
	a, ok := recs["A infra.duckhoo.test"]
	if !ok || !slices.Equal(values(a), []string{"203.0.113.10"}) || aws.ToInt64(a.TTL) != 300 {
		t.Fatalf("A record: %+v (all: %v)", a, keys(recs))
	}
	reg, ok := recs["TXT _securesite-a.infra.duckhoo.test"]
	if !ok || !slices.Equal(values(reg), []string{fmt.Sprintf(registryValue, ns+"/duckhoo")}) {
		t.Fatalf("registry record: %+v", reg)
	}

	// Edit the address: the record follows.
	e.update(ns, "duckhoo", func(s *v1alpha1.SecureSite) { s.Spec.Backend.Address = "203.0.113.20" })
	e.eventually(30*time.Second, "record updated", func() string {
		if v := values(e.records(zoneID)["A infra.duckhoo.test"]); !slices.Equal(v, []string{"203.0.113.20"}) {
			return fmt.Sprint(v)
		}
		return ""
	})

	// Someone edits the owned record by hand: the next pass restores it.
	e.handWrite(zoneID, r53types.ChangeActionUpsert, "infra.duckhoo.test", "A", "198.51.100.66")
	time.Sleep(1100 * time.Millisecond) // the zone snapshot is trusted for 1s in tests
	e.poke(ns, "duckhoo")
	e.eventually(30*time.Second, "drift repaired", func() string {
		if v := values(e.records(zoneID)["A infra.duckhoo.test"]); !slices.Equal(v, []string{"203.0.113.20"}) {
			return fmt.Sprint(v)
		}
		return ""
	})
	if ev := strings.Join(e.events(ns, "duckhoo"), "\n"); !strings.Contains(ev, "infra.duckhoo.test") {
		t.Errorf("no event for the record changes:\n%s", ev)
	}

	// Delete: owned records and their registry go, the finalizer is released.
	if err := e.k8s.Delete(ctx, e.get(ns, "duckhoo")); err != nil {
		t.Fatal(err)
	}
	e.eventually(30*time.Second, "site deleted", func() string {
		err := e.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "duckhoo"}, &v1alpha1.SecureSite{})
		if !apierrors.IsNotFound(err) {
			return fmt.Sprint("still there: ", err)
		}
		return ""
	})
	recs = e.records(zoneID)
	for _, k := range []string{"A infra.duckhoo.test", "TXT _securesite-a.infra.duckhoo.test"} {
		if _, ok := recs[k]; ok {
			t.Errorf("%s left behind after delete", k)
		}
	}
}

func testDNSForeignRecord(t *testing.T, e *env, zoneID string) {
	ctx := context.Background()
	ns := e.namespace("dns")
	e.handWrite(zoneID, r53types.ChangeActionCreate, "legacy.duckhoo.test", "A", "192.0.2.1")
	e.create(backendSite(ns, "legacy", "duckhoo.test", "legacy.duckhoo.test", "203.0.113.30"))
	s := e.waitCondition(ns, "legacy", v1alpha1.ConditionDNSReady, metav1.ConditionFalse, v1alpha1.ReasonRecordConflict, 30*time.Second)
	if c := condition(s, v1alpha1.ConditionDNSReady); !strings.Contains(c.Message, "legacy.duckhoo.test A exists and is not managed by SecureSite") {
		t.Errorf("conflict message: %q", c.Message)
	}
	if c := condition(s, v1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonRecordConflict {
		t.Errorf("Ready: %+v", c)
	}
	if v := values(e.records(zoneID)["A legacy.duckhoo.test"]); !slices.Equal(v, []string{"192.0.2.1"}) {
		t.Errorf("foreign record changed: %v", v)
	}
	if ev := strings.Join(e.events(ns, "legacy"), "\n"); !strings.Contains(ev, v1alpha1.ReasonRecordConflict) {
		t.Errorf("no RecordConflict event:\n%s", ev)
	}
	if err := e.k8s.Delete(ctx, s); err != nil {
		t.Fatal(err)
	}
	e.eventually(30*time.Second, "site deleted", func() string {
		if err := e.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "legacy"}, &v1alpha1.SecureSite{}); !apierrors.IsNotFound(err) {
			return fmt.Sprint(err)
		}
		return ""
	})
	if v := values(e.records(zoneID)["A legacy.duckhoo.test"]); !slices.Equal(v, []string{"192.0.2.1"}) {
		t.Errorf("foreign record changed by delete: %v", v)
	}
}

func testDNSTwoSitesOneName(t *testing.T, e *env, zoneID string) {
	ns := e.namespace("dns")
	e.create(backendSite(ns, "first", "duckhoo.test", "shared.duckhoo.test", "203.0.113.41"))
	e.waitCondition(ns, "first", v1alpha1.ConditionDNSReady, metav1.ConditionTrue, "", 30*time.Second)
	e.create(backendSite(ns, "second", "duckhoo.test", "shared.duckhoo.test", "203.0.113.42"))
	s := e.waitCondition(ns, "second", v1alpha1.ConditionDNSReady, metav1.ConditionFalse, v1alpha1.ReasonRecordConflict, 30*time.Second)
	if c := condition(s, v1alpha1.ConditionDNSReady); !strings.Contains(c.Message, "owned by SecureSite "+testOwnerID+"/"+ns+"/first") {
		t.Errorf("conflict message: %q", c.Message)
	}
	e.poke(ns, "first")
	time.Sleep(2 * time.Second)
	if v := values(e.records(zoneID)["A shared.duckhoo.test"]); !slices.Equal(v, []string{"203.0.113.41"}) {
		t.Errorf("the first site lost its record: %v", v)
	}
	if c := condition(e.get(ns, "first"), v1alpha1.ConditionDNSReady); c.Status != metav1.ConditionTrue {
		t.Errorf("first site DNSReady: %+v", c)
	}
}

func testDNSSuspend(t *testing.T, e *env, zoneID string) {
	ns := e.namespace("dns")
	before := awsclient.CallCount("Route 53", "ChangeResourceRecordSets")
	e.create(site(ns, "quiet", "duckhoo.test", func(s *v1alpha1.SecureSite) {
		s.Spec.Backend = &v1alpha1.BackendSpec{Hostname: "quiet.duckhoo.test", Address: "203.0.113.50", TTL: 300}
		s.Spec.Certificate.Issuer = v1alpha1.IssuerSelfSigned
		s.Spec.Suspend = true
	}))
	s := e.waitCondition(ns, "quiet", v1alpha1.ConditionDNSReady, metav1.ConditionFalse, v1alpha1.ReasonSuspended, 30*time.Second)
	if c := condition(s, v1alpha1.ConditionDNSReady); !strings.Contains(c.Message, "quiet.duckhoo.test") {
		t.Errorf("suspended message should say what would change: %q", c.Message)
	}
	if c := condition(s, v1alpha1.ConditionReady); c.Reason != v1alpha1.ReasonSuspended {
		t.Errorf("Ready: %+v", c)
	}
	if _, ok := e.records(zoneID)["A quiet.duckhoo.test"]; ok {
		t.Error("a suspended site wrote a record")
	}
	if after := awsclient.CallCount("Route 53", "ChangeResourceRecordSets"); after != before {
		t.Errorf("suspended site made %v ChangeResourceRecordSets calls", after-before)
	}
	// Unsuspend: it converges.
	e.update(ns, "quiet", func(s *v1alpha1.SecureSite) { s.Spec.Suspend = false })
	e.waitCondition(ns, "quiet", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
}

// TestDNSManySitesOneZone measures what 50 sites in one zone cost in Route53 calls.
func TestDNSManySitesOneZone(t *testing.T) {
	const n = 50
	e := startEnv(t)
	ctx := context.Background()
	zoneID := e.w.CreateHostedZone(ctx, "many.test")
	ns := e.namespace("many")
	changesBefore := awsclient.CallCount("Route 53", "ChangeResourceRecordSets")
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.create(backendSite(ns, fmt.Sprintf("site-%02d", i), "many.test", fmt.Sprintf("api-%02d.many.test", i), fmt.Sprintf("203.0.113.%d", i+1)))
		}()
	}
	wg.Wait()
	for i := range n {
		e.waitCondition(ns, fmt.Sprintf("site-%02d", i), v1alpha1.ConditionReady, metav1.ConditionTrue, "", 60*time.Second)
	}
	writes := awsclient.CallCount("Route 53", "ChangeResourceRecordSets") - changesBefore
	t.Logf("%d sites created together: %v ChangeResourceRecordSets calls", n, writes)
	if writes >= n/2 {
		t.Errorf("%v ChangeResourceRecordSets calls for %d sites: changes are not batched across sites", writes, n)
	}
	if got := len(e.records(zoneID)); got < 2*n {
		t.Errorf("zone has %d records, want at least %d (record + registry per site)", got, 2*n)
	}

	// Steady state: every site reconciled again with nothing changed.
	time.Sleep(1100 * time.Millisecond) // let the 1s test snapshot expire, as a resync would find it
	listsBefore := awsclient.CallCount("Route 53", "ListResourceRecordSets")
	changesBefore = awsclient.CallCount("Route 53", "ChangeResourceRecordSets")
	for i := range n {
		e.poke(ns, fmt.Sprintf("site-%02d", i))
	}
	time.Sleep(5 * time.Second)
	lists := awsclient.CallCount("Route 53", "ListResourceRecordSets") - listsBefore
	writes = awsclient.CallCount("Route 53", "ChangeResourceRecordSets") - changesBefore
	t.Logf("steady-state resync of %d sites: %v ListResourceRecordSets, %v ChangeResourceRecordSets", n, lists, writes)
	if writes != 0 {
		t.Errorf("steady state wrote %v times", writes)
	}
	// The snapshot is shared: reads grow with time (one list per snapshot lifetime), not with sites.
	if lists > 8 {
		t.Errorf("steady state made %v list calls for %d sites; want O(zones)", lists, n)
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
