// Package bench measures the controller against the design's targets: convergence time, Route53
// calls per certificate and per steady-state resync, and the manager's memory with many unrelated
// Secrets. It is a benchmark harness, not a timed test: it reports figures (and writes them to
// docs/benchmarks.md) and fails only when it cannot take them.
package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/testworld"
)

const (
	zoneName  = "bench.test"
	siteNS    = "bench"
	resyncs   = 2
	noiseN    = 10000
	noiseSize = 32 << 10
	noiseNS   = 10
	// A pause before each forced resync round, so the round does not ride on the convergence's
	// last listing.
	snapshotExpiry = 35 * time.Second
)

func TestBenchmark(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SECURESITE_BENCH_N"))
	if n <= 0 {
		t.Skip("set SECURESITE_BENCH_N=100 to run the benchmark; see docs/benchmarks.md")
	}
	r := &report{n: n, started: time.Now(), load: loadAverage()}
	w, k8s := startBenchWorld(t)
	floor, floorFailed := measureFloor(t, w, r, n)
	m := startManager(t, w)
	measureSingleSite(t, r, k8s)
	before := m.scrape(t)
	converged, backingOff := measureConvergence(t, r, w, k8s, m, n)
	if floor > 0 {
		addFloorRatio(r, converged, floor, floorFailed, backingOff)
	}
	addConvergenceCalls(r, before, m.scrape(t))
	measureSteadyStateResyncs(t, r, k8s, m, n)
	measureMemoryWithUnrelatedSecrets(t, r, k8s, m)

	r.loadEnd = loadAverage()
	t.Logf("benchmark, N=%d:\n%s", n, r.table())
	path, err := writeDoc(r)
	if err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	t.Logf("wrote %s", path)
}

// startBenchWorld starts the test world with the benchmark's namespaces and zone, and a client
// fast enough not to measure its own rate limiter.
func startBenchWorld(t *testing.T) (*testworld.World, client.Client) {
	t.Helper()
	// One zone read answers the DNS server for 250ms: with N×3 records per zone, reading it per
	// query makes pebble's DNS-01 lookups time out at N=1000.
	w := testworld.Start(t, testworld.WithDNSZoneCache(250*time.Millisecond))
	k8s := w.Client(t, 500, 1000) // client-go's default 5 QPS would measure its rate limiter
	for _, ns := range []string{"securesite-system", siteNS} {
		mustCreate(t, k8s, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	w.CreateHostedZone(context.Background(), zoneName)
	return w, k8s
}

// measureSingleSite: a single site on an idle controller, apply → Ready, one after the other
// (TestSingleSite splits it into steps).
func measureSingleSite(t *testing.T, r *report, k8s client.Client) {
	t.Helper()
	singles := tookEach(timeSingleSites(t, k8s, "single", 9000, singleRuns))
	r.add("single site (backend record + ACME certificate) apply → Ready, median (min … max)", spread(singles),
		verdict("≤ 3 s", median(singles) <= 3*time.Second))
}

// measureConvergence applies n sites at once and waits until each is Ready or backing off after
// a failed order. It returns the time that took and the number backing off.
func measureConvergence(t *testing.T, r *report, w *testworld.World, k8s client.Client, m *manager, n int) (time.Duration, int) {
	t.Helper()
	start := time.Now()
	apiBefore := apiServerScrape(t, w)
	cpuBefore, managerBefore := readMachineCPU(), m.cpu(t)
	profiled, apiProfiled := cpuProfile(t, m, 30*time.Second), apiServerProfile(t, w, 25*time.Second)
	testworld.Parallel(n, 16, func(i int) { mustCreate(t, k8s, benchSite(i)) })
	applied := time.Since(start)
	if t.Failed() {
		t.FailNow()
	}
	sites := waitAllReady(t, k8s, m, n, start)
	converged := time.Since(start)
	busy, managerCPU := busyShare(cpuBefore, readMachineCPU()), m.cpu(t)-managerBefore
	apiRequests := testworld.CountDiff(apiRequestsByKind(apiServerScrape(t, w)), apiRequestsByKind(apiBefore))
	profiled()
	apiProfiled()

	perSite := make([]time.Duration, 0, len(sites))
	var failures []string
	for _, s := range sites {
		c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionReady)
		if c.Status != metav1.ConditionTrue {
			failures = append(failures, s.Name+": "+s.Status.Certificate.LastFailureMessage)
			continue
		}
		perSite = append(perSite, c.LastTransitionTime.Sub(s.CreationTimestamp.Time))
	}
	r.add("sites (every 10th with S3 + CloudFront)", fmt.Sprintf("%d (%d static)", n, (n+9)/10), "")
	r.add("time to apply all (client, 16 in parallel)", applied.Round(100*time.Millisecond).String(), "")
	r.add("time to all settled (wall): Ready, or backing off after a failed order", converged.Round(time.Second).String(), "")
	r.add("sites Ready / backing off after a failed order (1 h backoff by design)", fmt.Sprintf("%d / %d", len(perSite), len(failures)), "")
	for _, f := range failures {
		t.Logf("backing off: %s", f)
	}
	r.add("per-site time to Ready, median / max", fmt.Sprintf("%s / %s", median(perSite), slices.Max(perSite)), "")
	r.add("machine CPU busy while converging (all processes: API server, etcd, emulators, pebble, manager, this test)",
		fmt.Sprintf("%.0f%% of %d cores", 100*busy, runtime.NumCPU()), "")
	r.add("manager CPU time used while converging (per site)", fmt.Sprintf("%s (%s)", managerCPU.Round(100*time.Millisecond),
		(managerCPU/time.Duration(n)).Round(100*time.Microsecond)), "")
	r.add("Kubernetes API requests while converging (all clients: the manager, and this test's creates and lists), per site",
		fmt.Sprintf("%.1f: %s", total(apiRequests)/float64(n), ops(apiRequests)), "")
	return converged, len(failures)
}

// apiRequestsByKind sums the API server's request counter by verb and resource (with its
// subresource), e.g. "PATCH securesites/status"; WATCH and long-running requests included.
func apiRequestsByKind(s scrape) map[string]float64 {
	out := map[string]float64{}
	for _, x := range s {
		if x.name != "apiserver_request_total" {
			continue
		}
		kind := x.labels["verb"] + " " + x.labels["resource"]
		if sub := x.labels["subresource"]; sub != "" {
			kind += "/" + sub
		}
		out[kind] += x.value
	}
	return out
}

// addConvergenceCalls adds the orders and the AWS calls the convergence cost, between two scrapes.
func addConvergenceCalls(r *report, before, after scrape) {
	issued := after.sum("securesite_acme_orders_total", map[string]string{"result": "issued"}) -
		before.sum("securesite_acme_orders_total", map[string]string{"result": "issued"})
	failed := after.sum("securesite_acme_orders_total", map[string]string{"result": "failed"}) -
		before.sum("securesite_acme_orders_total", map[string]string{"result": "failed"})
	r53 := testworld.CountDiff(after.awsCallsByOp("Route 53"), before.awsCallsByOp("Route 53"))
	perCert := math.NaN()
	if issued > 0 {
		perCert = total(r53) / issued
	}
	r.add("ACME orders issued / failed", fmt.Sprintf("%g / %g", issued, failed), "")
	r.add("Route53 calls to converge, by operation", ops(r53), "")
	r.add("Route53 calls to converge, total", fmt.Sprintf("%g", total(r53)), "")
	r.add("Route53 calls per issued certificate (all record work included)", fmt.Sprintf("%.2f", perCert),
		verdict("≤ 5", perCert <= 5))
	for _, svc := range []string{"CloudFront", "S3", "ACM"} {
		calls := testworld.CountDiff(after.awsCallsByOp(svc), before.awsCallsByOp(svc))
		r.add(svc+" calls to converge", fmt.Sprintf("%g: %s", total(calls), ops(calls)), "")
	}
	r.add("AWS error results while converging", errorResults(before, after), "")
}

// measureSteadyStateResyncs: every site reconciled again with nothing to change, in resyncs rounds.
func measureSteadyStateResyncs(t *testing.T, r *report, k8s client.Client, m *manager, n int) {
	t.Helper()
	var reads, writes []float64
	var resyncTimes []time.Duration
	otherAWS := map[string][]float64{}
	for round := range resyncs {
		time.Sleep(snapshotExpiry)
		b := m.scrape(t)
		t0 := time.Now()
		poke := strconv.Itoa(round)
		testworld.Parallel(n, 16, func(i int) { annotate(t, k8s, fmt.Sprintf("site-%04d", i), poke) })
		a := waitSettled(t, m, b, n)
		resyncTimes = append(resyncTimes, time.Since(t0))
		rd, wr := readsWrites(testworld.CountDiff(a.awsCallsByOp("Route 53"), b.awsCallsByOp("Route 53")))
		reads, writes = append(reads, rd), append(writes, wr)
		for _, svc := range []string{"CloudFront", "S3", "ACM"} {
			otherAWS[svc] = append(otherAWS[svc], total(testworld.CountDiff(a.awsCallsByOp(svc), b.awsCallsByOp(svc))))
		}
		t.Logf("resync %d: %g Route53 reads, %g writes, %s: %s", round+1, rd, wr, time.Since(t0).Round(time.Second),
			ops(testworld.CountDiff(a.awsCallsByOp("Route 53"), b.awsCallsByOp("Route 53"))))
	}
	rd, wr := median(reads), median(writes)
	r.add(fmt.Sprintf("steady-state resync of all sites: wall time (median of %d)", resyncs), median(resyncTimes).Round(time.Second).String(), "")
	r.add("… Route53 reads per resync (median)", fmt.Sprintf("%g (rounds: %v)", rd, reads), verdict("O(zones): 1 zone here", rd <= 5))
	r.add("… Route53 writes per resync (median)", fmt.Sprintf("%g (rounds: %v)", wr, writes), verdict("0", wr == 0))
	for _, svc := range []string{"CloudFront", "S3", "ACM"} {
		r.add(fmt.Sprintf("… %s calls per resync (median)", svc), fmt.Sprintf("%g", median(otherAWS[svc])), "")
	}
	r.note("Forced resync: each round annotates every site (a reconcile with nothing to change) %s after the last "+
		"AWS activity. Route53 reads here are what a resync itself costs: the zone-level drift check lists each zone "+
		"once a minute and resyncs use that listing, so they read nothing of their own. The idle steady state "+
		"(no pokes) is measured by TestIdleSteadyState; see its sections.", snapshotExpiry)
}

// measureMemoryWithUnrelatedSecrets: the manager's memory before and after thousands of Secrets
// it has no business caching.
func measureMemoryWithUnrelatedSecrets(t *testing.T, r *report, k8s client.Client, m *manager) {
	t.Helper()
	_, peak := m.memory(t)
	r.add("manager peak RSS (VmHWM) after convergence and resyncs", mib(peak), "")
	rssBefore := m.medianRSS(t, 5)
	t0 := time.Now()
	createNoise(t, k8s)
	noiseTime := time.Since(t0)
	time.Sleep(30 * time.Second)
	rssAfter := m.medianRSS(t, 5)
	_, peakAfter := m.memory(t)
	growth := rssAfter - rssBefore
	r.add("manager RSS before unrelated Secrets (median of 5)", mib(rssBefore), "")
	r.add(fmt.Sprintf("manager RSS 30s after %d unrelated 32 KiB Secrets in %d namespaces (median of 5; created in %s)",
		noiseN, noiseNS, noiseTime.Round(time.Second)), mib(rssAfter), "")
	r.add("… growth", mib(growth), verdict("≤ 5 MiB", growth <= 5<<20))
	r.add("manager peak RSS (VmHWM) at the end", mib(peakAfter), "")
}

// measureFloor times pebble alone issuing n certificates to a minimal client (skipped with
// SECURESITE_BENCH_FLOOR=0) and adds its row.
func measureFloor(t *testing.T, w *testworld.World, r *report, n int) (time.Duration, int) {
	t.Helper()
	if os.Getenv("SECURESITE_BENCH_FLOOR") == "0" {
		return 0, 0
	}
	floor, failed, phases := pebbleFloor(t, w, n, issuanceWorkers)
	r.add(fmt.Sprintf("pebble floor: %d certificates (2 names each) to a minimal ACME client, %d orders at a time (as the manager's issuance workers)",
		n, issuanceWorkers), fmt.Sprintf("%s (%d failed)", floor.Round(100*time.Millisecond), failed), "")
	r.add("… floor, mean time per order of each step", phases, "")
	return floor, failed
}

// addFloorRatio adds the design's target: all sites Ready within twice the floor. It is met only
// when every site is Ready (a site backing off after a failed order is not) and the floor issued
// every certificate.
func addFloorRatio(r *report, converged, floor time.Duration, floorFailed, backingOff int) {
	ratio := converged.Seconds() / floor.Seconds()
	r.add("all Ready ÷ pebble floor", fmt.Sprintf("%.2f", ratio),
		verdict("≤ 2, all Ready", ratio <= 2 && backingOff == 0 && floorFailed == 0))
	r.note("The floor client is lego's protocol layer (`acme/api`) with one account and nothing else: per order "+
		"one Route53 change with both names' TXT values straight into kumo, a look at the test world's DNS server "+
		"every %s until it serves them, both challenges accepted at once, the order polled every %s, finalize, "+
		"download, one change removing the values; %d orders at a time, as the manager's issuance workers. The "+
		"controller's time includes its Kubernetes work (apply, status, Secrets), the sites' DNS records and the "+
		"static sites' S3, ACM and CloudFront work.", floorPoll, floorPoll, issuanceWorkers)
}

// benchSite is site i: a backend record and an ACME certificate for both names; every 10th site
// also serves a static client from S3 through CloudFront.
func benchSite(i int) *v1alpha1.SecureSite {
	domain := fmt.Sprintf("s%04d.%s", i, zoneName)
	s := &v1alpha1.SecureSite{
		ObjectMeta: metav1.ObjectMeta{Namespace: siteNS, Name: fmt.Sprintf("site-%04d", i)},
		Spec: v1alpha1.SecureSiteSpec{
			Domain:      domain,
			Backend:     &v1alpha1.BackendSpec{Hostname: "api." + domain, Address: fmt.Sprintf("203.0.113.%d", i%250+1)},
			Certificate: v1alpha1.CertificateSpec{Issuer: v1alpha1.IssuerACME},
		},
	}
	if i%10 == 0 {
		s.Spec.StaticSite = &v1alpha1.StaticSiteSpec{}
	}
	return s
}

// waitAllReady polls until every site has settled — Ready for its current generation, or backing
// off after a failed order (the controller then waits an hour by design, as the CA's limits want;
// on two busy cores the test world's CA or DNS server can time out) — and returns them.
func waitAllReady(t *testing.T, k8s client.Client, m *manager, n int, start time.Time) []v1alpha1.SecureSite {
	t.Helper()
	deadline := time.Now().Add(50 * time.Minute)
	if d, ok := t.Deadline(); ok {
		// Leave time for the steady-state and memory phases.
		deadline = d.Add(-8 * time.Minute)
	}
	lastLog := time.Now()
	for {
		var list v1alpha1.SecureSiteList
		if err := k8s.List(context.Background(), &list, client.InNamespace(siteNS)); err != nil {
			t.Fatal(err)
		}
		ready, backingOff := 0, 0
		var notReady *v1alpha1.SecureSite
		for i := range list.Items {
			s := &list.Items[i]
			if c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionReady); c != nil &&
				c.Status == metav1.ConditionTrue && s.Status.ObservedGeneration == s.Generation {
				ready++
			} else if c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionCertificateReady); c != nil &&
				c.Reason == v1alpha1.ReasonBackingOff {
				backingOff++
			} else if notReady == nil {
				notReady = s
			}
		}
		if ready+backingOff == n {
			return list.Items
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sites Ready after %s; e.g. %s/%s: %+v", ready, n, time.Since(start).Round(time.Second),
				notReady.Namespace, notReady.Name, notReady.Status.Conditions)
		}
		if time.Since(lastLog) > 30*time.Second {
			// Failed orders back off exponentially, so a rising failure count explains a stall.
			orders := m.scrape(t)
			t.Logf("%d of %d sites Ready after %s; ACME orders issued %g, failed %g", ready, n, time.Since(start).Round(time.Second),
				orders.sum("securesite_acme_orders_total", map[string]string{"result": "issued"}),
				orders.sum("securesite_acme_orders_total", map[string]string{"result": "failed"}))
			lastLog = time.Now()
		}
		time.Sleep(2 * time.Second)
	}
}

// waitSettled waits until the controller has reconciled at least n times since before and is
// idle (empty queue, no busy worker) on two scrapes in a row, and returns the last scrape.
func waitSettled(t *testing.T, m *manager, before scrape, n int) scrape {
	t.Helper()
	ctrl := map[string]string{"controller": "securesite"}
	base := before.sum("controller_runtime_reconcile_total", ctrl)
	deadline := time.Now().Add(15 * time.Minute)
	idle := 0
	for {
		time.Sleep(time.Second)
		s := m.scrape(t)
		done := s.sum("controller_runtime_reconcile_total", ctrl)-base >= float64(n) &&
			s.sum("workqueue_depth", map[string]string{"name": "securesite"}) == 0 &&
			s.sum("controller_runtime_active_workers", ctrl) == 0
		if done {
			idle++
		} else {
			idle = 0
		}
		if idle == 2 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("controller not idle 15 min after a resync of %d sites (%g reconciles)", n,
				s.sum("controller_runtime_reconcile_total", ctrl)-base)
		}
	}
}

func annotate(t *testing.T, k8s client.Client, name, value string) {
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{"bench.securesite.io/resync":%q}}}`, value))
	s := &v1alpha1.SecureSite{ObjectMeta: metav1.ObjectMeta{Namespace: siteNS, Name: name}}
	if err := k8s.Patch(context.Background(), s, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		t.Errorf("annotating %s: %v", name, err)
	}
}

// createNoise creates noiseN unlabelled Secrets spread over noiseNS namespaces.
func createNoise(t *testing.T, k8s client.Client) {
	t.Helper()
	createNoiseN(t, k8s, noiseN)
}

// createNoiseN creates count unlabelled 32 KiB Secrets spread over noiseNS namespaces.
func createNoiseN(t *testing.T, k8s client.Client, count int) {
	t.Helper()
	blob := make([]byte, noiseSize)
	_, _ = rand.Read(blob)
	for i := range noiseNS {
		mustCreate(t, k8s, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("noise-%d", i)}})
	}
	var created atomic.Int64
	testworld.Parallel(count, 32, func(i int) {
		err := k8s.Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("noise-%d", i%noiseNS), Name: fmt.Sprintf("unrelated-%05d", i)},
			Data:       map[string][]byte{"blob": blob},
		})
		if err != nil {
			t.Errorf("creating unrelated Secret %d: %v", i, err)
			return
		}
		created.Add(1)
	})
	if created.Load() != int64(count) {
		t.Fatalf("created %d of %d unrelated Secrets", created.Load(), count)
	}
}

func mustCreate(t *testing.T, k8s client.Client, obj client.Object) {
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Errorf("creating %s: %v", obj.GetName(), err)
	}
}

// errorResults lists AWS calls that did not succeed (throttling, conflicts) between two scrapes.
func errorResults(before, after scrape) string {
	errs := map[string]float64{}
	for _, x := range after {
		if x.name != awsCalls || x.labels["result"] == "ok" {
			continue
		}
		key := x.labels["service"] + " " + x.labels["operation"] + " " + x.labels["result"]
		errs[key] += x.value - before.sum(awsCalls, x.labels)
	}
	for k, v := range errs {
		if v == 0 {
			delete(errs, k)
		}
	}
	return ops(errs)
}

// waitSiteReady polls one site until Ready and returns when it was first seen Ready.
func waitSiteReady(t *testing.T, k8s client.Client, s *v1alpha1.SecureSite, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := &v1alpha1.SecureSite{}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(s), got); err != nil {
			t.Fatal(err)
		}
		if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not Ready after %s: %+v", s.Name, limit, got.Status.Conditions)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
