package controllers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cf "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/manager"
)

// deleteWatch sits between the controller and the emulator. When DeleteDistribution arrives it
// notes which of the site's address records are still in the zone; and it answers the first
// DeleteOriginAccessControl calls with OriginAccessControlInUse. That answer is a fake: AWS gives
// it for minutes after a distribution is deleted, but neither kumo nor moto ever does.
type deleteWatch struct {
	r53    *route53.Client
	zoneID string
	names  []string // "A delorder.test", ...
	proxy  *httputil.ReverseProxy

	mu         sync.Mutex
	inUseLeft  int
	inUseSent  int
	distDelete int
	// atDistDelete are the address records still in the zone when the distribution was deleted.
	atDistDelete []string
}

func (d *deleteWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/2020-05-31/distribution/") {
		left := d.addressRecords(r.Context())
		d.mu.Lock()
		d.distDelete++
		d.atDistDelete = append(d.atDistDelete, left...)
		d.mu.Unlock()
	}
	if r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/2020-05-31/origin-access-control/") {
		d.mu.Lock()
		fake := d.inUseLeft > 0
		if fake {
			d.inUseLeft--
			d.inUseSent++
		}
		d.mu.Unlock()
		if fake {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `<?xml version="1.0"?>
<ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Error><Type>Sender</Type><Code>OriginAccessControlInUse</Code><Message>Cannot delete, this origin access control is in use.</Message></Error><RequestId>test-delete-watch</RequestId></ErrorResponse>`)
			return
		}
	}
	d.proxy.ServeHTTP(w, r)
}

func (d *deleteWatch) addressRecords(ctx context.Context) []string {
	out, err := d.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(d.zoneID)})
	if err != nil {
		return []string{"listing the zone failed: " + err.Error()}
	}
	var left []string
	for _, rs := range out.ResourceRecordSets {
		k := string(rs.Type) + " " + strings.ToLower(strings.TrimSuffix(aws.ToString(rs.Name), "."))
		for _, n := range d.names {
			if k == n {
				left = append(left, k)
			}
		}
	}
	return left
}

func (d *deleteWatch) state() (inUseSent, distDelete int, atDistDelete []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inUseSent, d.distDelete, append([]string(nil), d.atDistDelete...)
}

// TestDeletionReleasesDNSFirstAndWaitsOnInUse: on delete, the alias records leave the zone before
// the distribution is deleted (no alias ever points at a deleted distribution), and AWS's
// "origin access control in use" is a wait — Reconciling True naming it, no Warning — until AWS
// lets go.
func TestDeletionReleasesDNSFirstAndWaitsOnInUse(t *testing.T) {
	ctx := context.Background()
	e, watch := startEnvWithDeleteWatch(t)
	a := newRawAWS(e)
	watch.zoneID = e.w.CreateHostedZone(ctx, "delorder.test")
	ns := e.namespace("delorder")
	e.create(staticSite(ns, "web", "delorder.test", nil))
	s := e.waitCondition(ns, "web", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 60*time.Second)
	d := s.Status.Distribution
	if left := watch.addressRecords(ctx); len(left) != 2 {
		t.Fatalf("alias records before delete: %v", left)
	}

	watch.mu.Lock()
	watch.inUseLeft = 2
	watch.mu.Unlock()
	if err := e.k8s.Delete(ctx, e.get(ns, "web")); err != nil {
		t.Fatal(err)
	}
	e.eventually(60*time.Second, "distribution deleted", func() string {
		if _, n, _ := watch.state(); n == 0 {
			return "no DeleteDistribution yet"
		}
		return ""
	})
	if _, _, left := watch.state(); len(left) > 0 {
		t.Errorf("address records still in the zone when the distribution was deleted: %v", left)
	}
	e.eventually(30*time.Second, "Reconciling True naming the origin access control in use", func() string {
		var cur v1alpha1.SecureSite
		if err := e.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, &cur); err != nil {
			return fmt.Sprintf("site: %v (released although AWS said in use?)", err)
		}
		c := condition(&cur, v1alpha1.ConditionReconciling)
		if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "origin access control "+d.OriginAccessControlID) || !strings.Contains(c.Message, "in use") {
			return fmt.Sprintf("%+v", c)
		}
		return ""
	})
	if !a.distributionGone(t, d.ID) {
		t.Error("distribution still exists while its OAC is in use")
	}

	checkInUseIsAWait(e, watch, ns)

	// AWS lets go: the next pass deletes the OAC and releases the finalizer.
	e.poke(ns, "web")
	waitGone(e, ns, "web")
	if _, err := a.cf.GetOriginAccessControl(ctx, &cf.GetOriginAccessControlInput{Id: aws.String(d.OriginAccessControlID)}); err == nil {
		t.Error("origin access control left behind after delete")
	}
}

// startEnvWithDeleteWatch starts the test world with a deleteWatch between controller and emulator.
func startEnvWithDeleteWatch(t *testing.T) (*env, *deleteWatch) {
	watch := &deleteWatch{names: []string{"A delorder.test", "AAAA delorder.test"}}
	srv := httptest.NewServer(watch)
	t.Cleanup(srv.Close) // after the manager stopped (cleanups run last-in first-out)
	e := startEnvWith(t, func(e *env, o *manager.Options) {
		target, err := url.Parse(o.AWS.EndpointURL)
		if err != nil {
			t.Fatal(err)
		}
		watch.r53, watch.proxy = e.r53, httputil.NewSingleHostReverseProxy(target)
		o.AWS.EndpointURL = srv.URL
	})
	return e, watch
}

// checkInUseIsAWait: another pass while AWS still says "in use" is still a wait, with no Warning
// and no second event.
func checkInUseIsAWait(e *env, watch *deleteWatch, ns string) {
	t := e.t
	t.Helper()
	e.poke(ns, "web")
	e.eventually(30*time.Second, "second OriginAccessControlInUse answered", func() string {
		if sent, _, _ := watch.state(); sent < 2 {
			return fmt.Sprintf("%d sent", sent)
		}
		return ""
	})
	time.Sleep(time.Second)
	if w := e.warnings(ns, "web"); len(w) > 0 {
		t.Errorf("Warning events while AWS counts the OAC as in use: %v", w)
	}
	if n := strings.Count(strings.Join(e.events(ns, "web"), "\n"), "still in use"); n != 1 {
		t.Errorf("%d events about the OAC in use, want 1: %v", n, e.events(ns, "web"))
	}
}
