package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/manager"
	"github.com/securesite-io/securesite/internal/testworld/faultproxy"
)

// TestRateLimitsScheduled: with small CA budgets set as flags would set them, and a CA that
// answers the first order rateLimited with a Retry-After (a fault proxy in front of pebble,
// which has no order limits of its own), no order is sent over a budget or before the
// Retry-After, a controller restart does not reset the budgets, a waiting site says
// RateLimited and when, no site backs off, and every site is issued in the end.
func TestRateLimitsScheduled(t *testing.T) {
	const (
		sites      = 6
		retryAfter = 5 * time.Second
	)
	accountLimit := acme.Limit{Count: 2, Window: 15 * time.Second}
	domainLimit := acme.Limit{Count: 3, Window: 20 * time.Second}
	e, proxy := startEnvBehindRateLimitingCA(t, retryAfter, acme.Limits{OrdersPerAccount: accountLimit, CertificatesPerDomain: domainLimit})
	e.w.CreateHostedZone(context.Background(), "rl.test")
	ns := e.namespace("rl")
	for i := range sites {
		e.create(site(ns, fmt.Sprintf("s%d", i), fmt.Sprintf("s%d.rl.test", i), nil))
	}
	rateLimitedMessages := watchRateLimitedMessages(e, ns)

	// A restart in the middle must not reset the budgets.
	e.eventually(60*time.Second, "three orders sent", func() string {
		if n := len(proxy.Orders()); n < 3 {
			return fmt.Sprintf("%d orders", n)
		}
		return ""
	})
	e.restartManager()
	for i := range sites {
		e.waitCondition(ns, fmt.Sprintf("s%d", i), v1alpha1.ConditionReady, metav1.ConditionTrue, "", 3*time.Minute)
	}
	msgs := rateLimitedMessages()

	orders := proxy.Orders()
	t.Logf("%d newOrder requests for %d sites", len(orders), sites)
	for i, o := range orders {
		t.Logf("order %d at +%s limited=%v", i, o.At.Sub(orders[0].At).Round(10*time.Millisecond), o.Limited)
	}
	checkNoOrderOverABudget(t, orders, accountLimit, domainLimit)
	checkNoOrderBeforeRetryAfter(t, orders, retryAfter)
	if len(msgs) == 0 {
		t.Error("no site reported CertificateReady=False RateLimited while waiting")
	}
	for name, msg := range msgs {
		t.Logf("%s: %s", name, msg)
	}
	checkNoFailureCountedAndLedgerStored(e, ns, sites)
}

// startEnvBehindRateLimitingCA starts the controller with limits, its CA a fault proxy in front
// of pebble that answers the first order rateLimited with retryAfter.
func startEnvBehindRateLimitingCA(t *testing.T, retryAfter time.Duration, limits acme.Limits) (*env, *faultproxy.ACMEProxy) {
	t.Helper()
	var proxy *faultproxy.ACMEProxy
	e := startEnvWith(t, func(e *env, o *manager.Options) {
		if proxy == nil {
			cert, key := e.w.Pebble.TLSFiles()
			var err error
			proxy, err = faultproxy.StartACME(e.w.Pebble.DirectoryURL, cert, key, faultproxy.ACMEOptions{RateLimitOrders: 1, RetryAfter: retryAfter})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(proxy.Close)
		}
		o.ACMEServer = proxy.DirectoryURL
		o.ACMELimits = limits
	})
	return e, proxy
}

// watchRateLimitedMessages watches what the namespace's sites say while they wait: it keeps the
// last CertificateReady message of each site that reported RateLimited. The function it returns
// stops the watch and returns the messages by site.
func watchRateLimitedMessages(e *env, ns string) func() map[string]string {
	msgs := map[string]string{}
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			var list v1alpha1.SecureSiteList
			if err := e.k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
				continue
			}
			for _, s := range list.Items {
				if c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionCertificateReady); c != nil && c.Reason == v1alpha1.ReasonRateLimited {
					msgs[s.Name] = c.Message
				}
			}
		}
	}()
	return func() map[string]string {
		close(stop)
		<-stopped
		return msgs
	}
}

// orderCountSlack allows for the proxy seeing a request later than it was counted (the ledger
// write and the account lookup come between).
const orderCountSlack = 1500 * time.Millisecond

// checkNoOrderOverABudget: every newOrder counts against each budget (all names are in one
// registered domain), the ones answered rateLimited too; no window holds more than its count.
func checkNoOrderOverABudget(t *testing.T, orders []faultproxy.OrderRequest, limits ...acme.Limit) {
	t.Helper()
	for _, l := range limits {
		for i := range orders {
			in := 0
			for j := i; j < len(orders) && orders[j].At.Sub(orders[i].At) < l.Window-orderCountSlack; j++ {
				in++
			}
			if in > l.Count {
				t.Errorf("%d orders within %s from order %d: over the budget of %s", in, l.Window, i, l)
			}
		}
	}
}

// checkNoOrderBeforeRetryAfter: no order is sent after a rateLimited answer before its
// Retry-After has passed. An order sent by another worker while the answer was on its way is not
// one sent after it: only orders later than inFlight after the answer count.
func checkNoOrderBeforeRetryAfter(t *testing.T, orders []faultproxy.OrderRequest, retryAfter time.Duration) {
	t.Helper()
	const inFlight = 300 * time.Millisecond
	for i, o := range orders {
		if !o.Limited {
			continue
		}
		for _, later := range orders[i+1:] {
			if later.At.After(o.At.Add(inFlight)) && later.At.Before(o.At.Add(retryAfter-orderCountSlack)) {
				t.Errorf("an order %s after a rateLimited answer with Retry-After %s", later.At.Sub(o.At), retryAfter)
			}
		}
	}
}

// checkNoFailureCountedAndLedgerStored: waiting for the CA's limit counted as no site's failure,
// and the rate-limit ledger is kept in the controller's namespace (so a restart keeps it).
func checkNoFailureCountedAndLedgerStored(e *env, ns string, sites int) {
	t := e.t
	t.Helper()
	for i := range sites {
		s := e.get(ns, fmt.Sprintf("s%d", i))
		if st := s.Status.Certificate; st == nil || st.FailedAttempts != 0 {
			t.Errorf("site s%d counted a failure (waiting for the CA's limit is not one): %+v", i, st)
		}
	}
	var ledger corev1.Secret
	if err := e.k8s.Get(context.Background(), client.ObjectKey{Namespace: controllerNamespace, Name: acme.LedgerSecretName}, &ledger); err != nil {
		t.Errorf("rate-limit ledger not stored: %v", err)
	}
}

// TestDuplicateCertificatesScheduled: the duplicate-certificate budget (the same set of names,
// Let's Encrypt's 5 per week) set small by flag. A user deletes a site's valid certificate
// Secret — the practice Let's Encrypt names as the usual way to hit that limit — and the
// manager restarts: the new order for the same names waits for the budget instead of being
// sent, the site says RateLimited and when, and the certificate comes back once the window
// has passed, without a failure counted.
func TestDuplicateCertificatesScheduled(t *testing.T) {
	dupLimit := acme.Limit{Count: 1, Window: 20 * time.Second}
	var proxy *faultproxy.ACMEProxy
	e := startEnvWith(t, func(e *env, o *manager.Options) {
		if proxy == nil {
			cert, key := e.w.Pebble.TLSFiles()
			var err error
			if proxy, err = faultproxy.StartACME(e.w.Pebble.DirectoryURL, cert, key, faultproxy.ACMEOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(proxy.Close)
		}
		o.ACMEServer = proxy.DirectoryURL
		o.ACMELimits = acme.Limits{DuplicateCertificates: dupLimit}
	})
	ctx := context.Background()
	e.w.CreateHostedZone(ctx, "dup.test")
	ns := e.namespace("dup")
	e.create(site(ns, "s", "s.dup.test", nil))
	e.waitCondition(ns, "s", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 2*time.Minute)

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s-tls"}}
	if err := e.k8s.Delete(ctx, secret); err != nil {
		t.Fatal(err)
	}
	e.restartManager()
	waiting := e.waitCondition(ns, "s", v1alpha1.ConditionCertificateReady, metav1.ConditionFalse, v1alpha1.ReasonRateLimited, time.Minute)
	msg := meta.FindStatusCondition(waiting.Status.Conditions, v1alpha1.ConditionCertificateReady).Message
	t.Logf("while waiting: %s", msg)
	if !strings.Contains(msg, "exactly these names") {
		t.Errorf("RateLimited message does not name the duplicate budget: %s", msg)
	}
	e.waitCondition(ns, "s", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 2*time.Minute)

	orders := proxy.Orders()
	if len(orders) != 2 {
		t.Fatalf("%d newOrder requests, want 2 (the first certificate and the one after the delete)", len(orders))
	}
	gap := orders[1].At.Sub(orders[0].At)
	t.Logf("second order for the same names %s after the first (budget %s)", gap.Round(10*time.Millisecond), dupLimit)
	// Slack as in TestRateLimitsScheduled: the ledger counts an order a little before the CA sees it.
	if gap < dupLimit.Window-orderCountSlack {
		t.Errorf("second order for the same names %s after the first: over the budget of %s", gap, dupLimit)
	}
	if st := e.get(ns, "s").Status.Certificate; st == nil || st.FailedAttempts != 0 {
		t.Errorf("waiting for the duplicate budget counted as a failure: %+v", st)
	}
}
