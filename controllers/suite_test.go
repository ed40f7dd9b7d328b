package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/manager"
	"github.com/securesite-io/securesite/internal/manager/managertest"
	"github.com/securesite-io/securesite/internal/testworld"
)

// The controller tests run the real reconciler in a manager against the real test world: the
// Kubernetes API server (envtest), kumo or moto for AWS, pebble for ACME and the DNS server that
// answers pebble from the emulator's Route53. Nothing is faked.

const controllerNamespace = managertest.ControllerNamespace

// offsetClock is real time plus an offset tests can move forward (renewal, backoff).
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time                  { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c *offsetClock) Advance(d time.Duration)         { c.offset.Add(int64(d)) }

// env is one test world plus a running manager.
type env struct {
	t      *testing.T
	w      *testworld.World
	k8s    client.Client
	scheme *runtime.Scheme
	aws    awsclient.Config
	clock  *offsetClock
	// r53 is a raw, uncounted client for hand edits and checks, as a human with the console would.
	r53 *route53.Client

	mu      sync.Mutex
	running *managertest.Running
	cache   cache.Cache
	pool    *acme.Pool

	// tenancy configures the manager's sharing settings (startEnv: testOwnerID, no name hold).
	tenancy manager.TenancyOptions

	// tune changes the manager's options from the suite's defaults (nil: none).
	tune func(*env, *manager.Options)
}

// testOwnerID is the --owner-id of the controller tests' manager.
const testOwnerID = "controllers-test"

// defaultTenancy is the controller tests' sharing settings: their own owner id, and names
// released at once (these tests delete and re-create sites on the same names).
var defaultTenancy = manager.TenancyOptions{OwnerID: testOwnerID, NameHold: -1}

// startEnv starts the world and a manager; both stop when the test ends.
func startEnv(t *testing.T) *env {
	t.Helper()
	return startEnvWith(t, nil)
}

// startEnvWith is startEnv with the manager's options changed by tune.
func startEnvWith(t *testing.T, tune func(*env, *manager.Options)) *env {
	t.Helper()
	return startTenancyEnv(t, defaultTenancy, tune)
}

// startEnvWithoutTimedWakes is startEnv with a 1 h resync and no drift check: nothing wakes a
// site on a timer during a test, so a pass the test counts or relies on came from the event under
// test.
func startEnvWithoutTimedWakes(t *testing.T) *env {
	t.Helper()
	return startEnvWith(t, func(_ *env, o *manager.Options) {
		o.ResyncPeriod = time.Hour
		o.DriftCheckInterval = -1
	})
}

// startTenancyEnv is startEnvWith with the manager's sharing settings and test world options.
func startTenancyEnv(t *testing.T, tenancy manager.TenancyOptions, tune func(*env, *manager.Options), opts ...testworld.WorldOption) *env {
	t.Helper()
	ctrl.SetLogger(zap.New(zap.WriteTo(testworld.ControllerLogWriter()), zap.UseDevMode(true)))
	w := testworld.Start(t, opts...)
	e := &env{t: t, w: w, scheme: manager.Scheme(), clock: &offsetClock{}, tenancy: tenancy, tune: tune}
	var err error
	if e.k8s, err = client.New(w.RESTConfig, client.Options{Scheme: e.scheme}); err != nil {
		t.Fatal(err)
	}
	e.aws = w.AWSConfig(context.Background())
	e.r53 = route53.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testworld.EmulatorCredentials, nil }),
		BaseEndpoint: aws.String(w.AWS.URL),
	})
	if err := e.k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllerNamespace}}); err != nil {
		t.Fatal(err)
	}
	e.startManager()
	t.Cleanup(e.stopManager)
	return e
}

// startManager runs the controller with main.go's wiring (internal/manager), pointed at the test
// world, with a movable clock.
func (e *env) startManager() {
	e.t.Helper()
	o := managertest.Options(e.t, e.w)
	o.Clock = e.clock
	o.Tenancy = e.tenancy
	if e.tune != nil {
		e.tune(e, &o)
	}
	m := managertest.Start(e.t, e.w.RESTConfig, o)
	e.mu.Lock()
	e.running, e.cache, e.pool = m, m.GetCache(), m.Pool
	e.mu.Unlock()
}

func (e *env) stopManager() {
	e.mu.Lock()
	m := e.running
	e.mu.Unlock()
	if m != nil {
		m.Stop()
	}
}

// restartManager simulates a controller restart: everything in memory is lost.
func (e *env) restartManager() {
	e.stopManager()
	e.startManager()
}

var nsCounter atomic.Int32

// namespace creates a fresh namespace for one test.
func (e *env) namespace(prefix string) string {
	e.t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, nsCounter.Add(1))
	if err := e.k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		e.t.Fatal(err)
	}
	return name
}

func (e *env) create(site *v1alpha1.SecureSite) {
	e.t.Helper()
	if err := e.k8s.Create(context.Background(), site); err != nil {
		e.t.Fatalf("creating SecureSite: %v", err)
	}
}

func (e *env) get(ns, name string) *v1alpha1.SecureSite {
	e.t.Helper()
	s := &v1alpha1.SecureSite{}
	if err := e.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		e.t.Fatalf("getting SecureSite %s/%s: %v", ns, name, err)
	}
	return s
}

// update re-reads the site and applies mutate, retrying on conflicts.
func (e *env) update(ns, name string, mutate func(*v1alpha1.SecureSite)) {
	e.t.Helper()
	for range 10 {
		s := e.get(ns, name)
		mutate(s)
		err := e.k8s.Update(context.Background(), s)
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "modified") {
			e.t.Fatalf("updating SecureSite: %v", err)
		}
	}
	e.t.Fatal("updating SecureSite: too many conflicts")
}

// poke asks for a reconcile the way a user would: an annotation change.
func (e *env) poke(ns, name string) {
	e.update(ns, name, func(s *v1alpha1.SecureSite) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations["test.securesite.io/poke"] = time.Now().Format(time.RFC3339Nano)
	})
}

// eventually polls check until it returns "" (success) or the timeout passes; the last failure
// message is reported.
func (e *env) eventually(timeout time.Duration, what string, check func() string) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if last = check(); last == "" {
			return
		}
		time.Sleep(150 * time.Millisecond)
	}
	e.t.Fatalf("%s: not after %s: %s", what, timeout, last)
}

func condition(s *v1alpha1.SecureSite, typ string) *metav1.Condition {
	return meta.FindStatusCondition(s.Status.Conditions, typ)
}

// waitCondition waits until the site's condition has the status (and reason, when given).
func (e *env) waitCondition(ns, name, typ string, status metav1.ConditionStatus, reason string, timeout time.Duration) *v1alpha1.SecureSite {
	e.t.Helper()
	var site *v1alpha1.SecureSite
	e.eventually(timeout, fmt.Sprintf("%s/%s %s=%s %s", ns, name, typ, status, reason), func() string {
		site = e.get(ns, name)
		c := condition(site, typ)
		if c == nil {
			return "condition missing"
		}
		if c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Sprintf("%s=%s reason %s: %s", c.Type, c.Status, c.Reason, c.Message)
		}
		return ""
	})
	return site
}

// records lists a zone's record sets from the emulator directly, keyed "TYPE name".
func (e *env) records(zoneID string) map[string]r53types.ResourceRecordSet {
	e.t.Helper()
	out, err := e.r53.ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)})
	if err != nil {
		e.t.Fatalf("listing zone %s: %v", zoneID, err)
	}
	m := map[string]r53types.ResourceRecordSet{}
	for _, rs := range out.ResourceRecordSets {
		name := strings.ToLower(strings.TrimSuffix(aws.ToString(rs.Name), "."))
		m[string(rs.Type)+" "+name] = rs
	}
	return m
}

func values(rs r53types.ResourceRecordSet) []string {
	var v []string
	for _, r := range rs.ResourceRecords {
		v = append(v, aws.ToString(r.Value))
	}
	return v
}

// handWrite changes a record the way someone in the console would.
func (e *env) handWrite(zoneID string, action r53types.ChangeAction, name, typ, value string) {
	e.t.Helper()
	_, err := e.r53.ChangeResourceRecordSets(context.Background(), &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: action, ResourceRecordSet: &r53types.ResourceRecordSet{
			Name: aws.String(name), Type: r53types.RRType(typ), TTL: aws.Int64(300),
			ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(value)}},
		}}}},
	})
	if err != nil {
		e.t.Fatalf("hand %s %s %s: %v", action, typ, name, err)
	}
}

// events returns the reasons and messages of the events about a site.
func (e *env) events(ns, name string) []string {
	return e.eventsOfType(ns, name, "")
}

// warnings returns the reasons and messages of the Warning events about a site.
func (e *env) warnings(ns, name string) []string {
	return e.eventsOfType(ns, name, corev1.EventTypeWarning)
}

// eventsOfType returns "reason: message" of the events about a site of one type ("" for all).
func (e *env) eventsOfType(ns, name, eventType string) []string {
	e.t.Helper()
	list := &corev1.EventList{}
	if err := e.k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range list.Items {
		// The recorder writes events.k8s.io/v1 Events; the core/v1 view maps regarding → involvedObject.
		if ev.InvolvedObject.Name == name && (eventType == "" || ev.Type == eventType) {
			out = append(out, ev.Reason+": "+ev.Message)
		}
	}
	return out
}

func site(ns, name, domain string, mutate func(*v1alpha1.SecureSite)) *v1alpha1.SecureSite {
	s := &v1alpha1.SecureSite{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.SecureSiteSpec{Domain: domain},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

// startRenewal moves the clock just past the site's renewal time and back once the renewal order
// is running. Pebble stamps certificates with real time, so the renewed certificate's ARI window
// lies ~60 days after now in real time and may already be behind the moved clock; going back once
// the order runs is as if the renewal had started on time. Otherwise a test would see a renewal
// loop no real clock produces.
func (e *env) startRenewal(ns, name string, renewalTime time.Time, oldSerial string) {
	e.t.Helper()
	key := types.NamespacedName{Namespace: ns, Name: name}
	skip := time.Until(renewalTime) + time.Second
	e.clock.Advance(skip)
	defer e.clock.Advance(-skip)
	e.poke(ns, name)
	// The clock goes back as soon as the order is in flight: a result recorded while it is still
	// ahead would find the new certificate due as well (its ARI window is where the old one's
	// was) and order again. Orders finish within a second here, so the order is watched closely
	// rather than through eventually's slower API reads.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; !e.pool.InFlight(key); i++ {
		if i%100 == 99 {
			if s := e.get(ns, name); s.Status.Certificate != nil && s.Status.Certificate.SerialNumber != oldSerial {
				return // already renewed
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("renewal not ordered within 30s; clock %v, renewalTime %v", e.clock.Now(), renewalTime)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
