package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/testworld"
)

const idleZone = "idle.test"

// TestIdleSteadyState measures the steady state nobody pokes: N Ready sites (a backend record and
// a self-signed certificate each, so the CA is out of it) in one zone, the manager left alone at
// its default flags except --resync-period=2m (so every site's own resync runs at least twice in
// the window and its cost shows), then hand edits of owned records and the time until they are
// undone. SECURESITE_IDLE_AWS=moto runs it on moto. Both page ListResourceRecordSets at 300 record
// sets as AWS does (kumo through the test world's proxy, which pages kumo's one-page answer).
// SECURESITE_IDLE_RESYNC sets another --resync-period (2,500 sites at 30s need the resync rate of
// 10,000 at 2m) and SECURESITE_IDLE_WORKERS another --max-concurrent-reconciles than 8;
// SECURESITE_IDLE_SETTLE the wait between all Ready and the window (30s); SECURESITE_IDLE_WINDOW_ONLY=1 stops after the idle window and logs its table
// without writing docs/benchmarks.md.
//
//	SECURESITE_IDLE_N=1000 [SECURESITE_IDLE_AWS=moto] [SECURESITE_IDLE_FOR=5m] [SECURESITE_IDLE_RESYNC=2m] go test -count=1 -timeout 60m -run TestIdleSteadyState -v ./test/bench/
func TestIdleSteadyState(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SECURESITE_IDLE_N"))
	if n <= 0 {
		t.Skip("set SECURESITE_IDLE_N=1000 to run; see docs/benchmarks.md")
	}
	run := idleRunFromEnv(t, n)
	r := run.report()
	iw := startIdleWorld(t, run)
	if run.noise > 0 {
		iw.hw.mark(fmt.Sprintf("creating %d unrelated Secrets", run.noise))
		createNoiseN(t, iw.k8s, run.noise)
	}
	pages := iw.convergeSites(t, r, run)
	iw.measureIdleWindow(t, r, run, pages)
	if run.windowOnly {
		t.Logf("idle window, N=%d on %s, --resync-period=%s:\n%s", n, run.emulator, run.resync, r.table())
		return
	}
	iw.measureDriftRepair(t, r, run)
	// The drift waits above scrape the metrics endpoint four times a second, far more often than
	// a Prometheus does (every 15–60 s), and a scrape at 10,000 sites holds ~11 MB while it runs.
	// The memory is sampled after a quiet spell of idle work, as a manager runs between scrapes.
	iw.hw.mark("quiet spell before the memory sample")
	time.Sleep(memorySettle)
	iw.addMemory(t, r)
	iw.hw.mark("end")
	peak := iw.hw.finish(t)
	r.add("manager highest Go HeapInuse (sampled every 2 s through the run) / when", fmt.Sprintf("%s / %s", mib(peak.heapInuse), peak.phase), "")
	r.loadEnd = loadAverage()
	t.Logf("idle steady state, N=%d on %s:\n%s", n, run.emulator, r.table())
	path, err := writeDoc(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// idleRun is what the environment asks of TestIdleSteadyState.
type idleRun struct {
	n        int
	emulator string
	idleFor  time.Duration
	// resync is the manager's --resync-period; windowOnly ends the run after the idle window.
	resync     time.Duration
	windowOnly bool
	// workers is the manager's --max-concurrent-reconciles.
	workers int
	// settle is the wait between all sites Ready and the idle window.
	settle time.Duration
	// The 10,000-site run of the issue: every staticEvery-th site with a static site, noise
	// unrelated Secrets in the cluster.
	staticEvery, noise int
}

func idleRunFromEnv(t *testing.T, n int) idleRun {
	t.Helper()
	idleFor, err := time.ParseDuration(cmp.Or(os.Getenv("SECURESITE_IDLE_FOR"), "5m"))
	if err != nil {
		t.Fatal(err)
	}
	resync, err := time.ParseDuration(cmp.Or(os.Getenv("SECURESITE_IDLE_RESYNC"), idleResync.String()))
	if err != nil {
		t.Fatal(err)
	}
	workers, _ := strconv.Atoi(cmp.Or(os.Getenv("SECURESITE_IDLE_WORKERS"), "8"))
	settle, err := time.ParseDuration(cmp.Or(os.Getenv("SECURESITE_IDLE_SETTLE"), "30s"))
	if err != nil {
		t.Fatal(err)
	}
	staticEvery, _ := strconv.Atoi(os.Getenv("SECURESITE_IDLE_STATIC_EVERY"))
	noise, _ := strconv.Atoi(os.Getenv("SECURESITE_IDLE_NOISE"))
	return idleRun{n: n, emulator: cmp.Or(os.Getenv("SECURESITE_IDLE_AWS"), "kumo"), idleFor: idleFor, resync: resync,
		windowOnly: os.Getenv("SECURESITE_IDLE_WINDOW_ONLY") == "1", workers: workers, settle: settle, staticEvery: staticEvery, noise: noise}
}

// report is the run's empty report, with the command that reproduces it.
func (run idleRun) report() *report {
	n, emulator := run.n, run.emulator
	r := &report{n: n, started: time.Now(), load: loadAverage(),
		key:   fmt.Sprintf("idle %s N=%d", emulator, n),
		title: fmt.Sprintf("Idle steady state and drift repair, N = %d, %s", n, emulator),
		cmd: fmt.Sprintf("SECURESITE_IDLE_N=%d SECURESITE_IDLE_AWS=%s SECURESITE_IDLE_FOR=%s SECURESITE_IDLE_STATIC_EVERY=%d SECURESITE_IDLE_NOISE=%d go test -count=1 -timeout 90m -run TestIdleSteadyState -v ./test/bench/",
			n, emulator, run.idleFor, run.staticEvery, run.noise)}
	if run.staticEvery > 0 || run.noise > 0 {
		r.key = fmt.Sprintf("idle %s N=%d static every %d, %d unrelated Secrets", emulator, n, run.staticEvery, run.noise)
		r.title += fmt.Sprintf(", every %dth site with S3 + CloudFront (ACME certificate), %d unrelated Secrets", run.staticEvery, run.noise)
	}
	if run.resync != idleResync {
		// Its own section: the figures of another period are not those of the runs at 2m.
		r.key += fmt.Sprintf(" resync %s", run.resync)
		r.title += fmt.Sprintf(", --resync-period=%s", run.resync)
		r.cmd = "SECURESITE_IDLE_RESYNC=" + run.resync.String() + " " + r.cmd
	}
	if run.workers != 8 {
		r.key += fmt.Sprintf(" workers %d", run.workers)
		r.title += fmt.Sprintf(", --max-concurrent-reconciles=%d", run.workers)
		r.cmd = fmt.Sprintf("SECURESITE_IDLE_WORKERS=%d %s", run.workers, r.cmd)
	}
	return r
}

// idleWorld is the test world of TestIdleSteadyState: its zone, an uncounted Route53 client (a
// person in the console), and the manager left alone at its default flags.
type idleWorld struct {
	w         *testworld.World
	k8s       client.Client
	r53       *route53.Client
	zoneID    string
	m         *manager
	pprofPort int
	hw        *heapWatch // the manager's heap through the run
}

func startIdleWorld(t *testing.T, run idleRun) *idleWorld {
	t.Helper()
	ctx := context.Background()
	// The static sites' DNS-01 lookups read a zone of 20,000 record sets: without the zone cache
	// the test world's DNS server timed out under pebble and orders failed (as in TestBenchmark).
	w := testworld.Start(t, testworld.WithDNSZoneCache(250*time.Millisecond))
	awsURL := w.AWS.URL
	if run.emulator == "moto" {
		awsURL = startMoto(t, w.LogDir)
	}
	iw := &idleWorld{w: w, r53: route53.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testworld.EmulatorCredentials, nil }),
		BaseEndpoint: aws.String(awsURL),
	})}
	zone, err := iw.r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String(idleZone), CallerReference: aws.String(strconv.FormatInt(time.Now().UnixNano(), 36))})
	if err != nil {
		t.Fatal(err)
	}
	iw.zoneID = aws.ToString(zone.HostedZone.Id)
	iw.k8s = w.Client(t, 500, 1000) // client-go's default 5 QPS would measure its rate limiter
	for _, ns := range []string{"securesite-system", siteNS} {
		mustCreate(t, iw.k8s, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	if iw.pprofPort, err = testworld.FreePort(); err != nil {
		t.Fatal(err)
	}
	iw.m = &manager{ManagerProcess: w.StartManager(t, testworld.ManagerOptions{Args: []string{
		"--aws-endpoint-url=" + awsURL, "--resync-period=" + run.resync.String(), fmt.Sprintf("--max-concurrent-reconciles=%d", run.workers),
		fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", iw.pprofPort),
	}})}
	iw.hw = startHeapWatch(iw.pprofPort, iw.m.Cmd.Process.Pid, w.LogDir, 2*time.Second)
	return iw
}

// convergeSites creates the run's sites, waits until they are Ready (or backing off), and
// returns how many pages one listing of the zone takes.
func (iw *idleWorld) convergeSites(t *testing.T, r *report, run idleRun) int {
	t.Helper()
	start := time.Now()
	iw.hw.mark(fmt.Sprintf("creating %d sites", run.n))
	testworld.Parallel(run.n, 16, func(i int) {
		s := idleSite(i)
		if run.staticEvery > 0 && i%run.staticEvery == 0 {
			// CloudFront serves only certificates a browser trusts, so the CRD refuses selfSigned
			// with a static site: these sites get theirs from pebble.
			s.Spec.StaticSite = &v1alpha1.StaticSiteSpec{}
			s.Spec.Certificate.Issuer = v1alpha1.IssuerACME
		}
		mustCreate(t, iw.k8s, s)
	})
	iw.hw.mark("sites created; converging")
	backingOff := waitIdleReady(t, iw.k8s, run.n, 80*time.Minute)
	iw.hw.mark("all sites Ready")
	r.add("sites (backend record + selfSigned certificate)", strconv.Itoa(run.n), "")
	r.add("time to all Ready (or backing off after a failed order)", time.Since(start).Round(time.Second).String(), "")
	if run.staticEvery > 0 {
		r.add("… static sites backing off after a failed order (1 h backoff by design)", strconv.Itoa(backingOff), "")
	}
	_, convergePeak := iw.m.memory(t)
	r.add("manager peak RSS while converging", mib(convergePeak), "")
	r.add("manager CPU time used while converging", iw.m.cpu(t).Round(time.Second).String(), "")
	sets := countRecordSets(t, iw.r53, iw.zoneID)
	// 300 record sets a page, as on AWS: moto pages so, and the proxy pages kumo's answer.
	pages := int(math.Ceil(float64(sets) / 300))
	r.add("record sets in the zone / ListResourceRecordSets pages per listing", fmt.Sprintf("%d / %d", sets, pages), "")
	return pages
}

// measureIdleWindow: nobody touches anything for run.idleFor; what the manager does meanwhile.
func (iw *idleWorld) measureIdleWindow(t *testing.T, r *report, run idleRun, pages int) {
	t.Helper()
	m := iw.m
	time.Sleep(run.settle) // let the last writes' INSYNC polls and requeues pass
	iw.hw.mark("idle window")
	before, cpuBefore := m.scrape(t), m.cpu(t)
	time.Sleep(run.idleFor)
	after := m.scrape(t)
	iw.hw.mark("idle window over; hand edits")
	calls := testworld.CountDiff(after.awsCallsByOp("Route 53"), before.awsCallsByOp("Route 53"))
	reconciles := after.sum("controller_runtime_reconcile_total", map[string]string{"controller": "securesite"}) -
		before.sum("controller_runtime_reconcile_total", map[string]string{"controller": "securesite"})
	checks := after.sum("securesite_dns_drift_checks_total", nil) - before.sum("securesite_dns_drift_checks_total", nil)
	perHour := 60 / run.idleFor.Minutes()
	lists := calls["ListResourceRecordSets"]
	_, writes := readsWrites(calls)
	r.add(fmt.Sprintf("idle window (no pokes), --resync-period=%s, default --drift-check-interval=1m", shortDuration(run.resync)), run.idleFor.String(), "")
	r.add("… reconciles in the window (every site's own resync)", fmt.Sprintf("%g", reconciles), "")
	addResyncLateness(r, run, before, after)
	addWorkerLoad(r, run, before, after)
	addPassSources(r, before, after)
	r.add("… drift checks in the window", fmt.Sprintf("%g", checks), "")
	checkSecs := after.sum("securesite_dns_drift_check_duration_seconds_sum", nil) - before.sum("securesite_dns_drift_check_duration_seconds_sum", nil)
	if checks > 0 {
		// A hand edit made just after a check read the zone waits for the next check: repaired
		// within the interval plus this plus the repair's write.
		r.add("… one drift check (listing the zone, comparing every site), mean", (time.Duration(checkSecs / checks * float64(time.Second))).Round(time.Millisecond).String(), "")
	}
	r.add("… manager CPU time used in the window", (m.cpu(t) - cpuBefore).Round(100*time.Millisecond).String(), "")
	r.add("… Route53 calls in the window, by operation", ops(calls), "")
	r.add("… ListResourceRecordSets per hour (zone reads; one zone)", fmt.Sprintf("%.0f", lists*perHour),
		verdict(fmt.Sprintf("≤ 60 × %d pages = %d", pages, 60*pages), lists*perHour <= float64(60*pages)*1.05))
	r.add("… Route53 calls per hour, all operations", fmt.Sprintf("%.0f", total(calls)*perHour), "")
	r.add("… Route53 writes in the window", fmt.Sprintf("%g", writes), verdict("0", writes == 0))
}

// idleResync is the benchmark's --resync-period unless SECURESITE_IDLE_RESYNC says otherwise: every
// site's own resync runs at least twice in a 5-minute window.
const idleResync = 2 * time.Minute

// resyncLatenessMetric is the manager's histogram of how late each scheduled resync started.
const resyncLatenessMetric = "securesite_resync_lateness_seconds"

// addResyncLateness adds how many resyncs started in the window, against the N × window ÷ period
// that keep every site to its period, and how late they started after they came due: the
// quantiles are the upper bounds of the histogram buckets they fall in.
func addResyncLateness(r *report, run idleRun, before, after scrape) {
	started := after.sum(resyncLatenessMetric+"_count", nil) - before.sum(resyncLatenessMetric+"_count", nil)
	onTime := float64(run.n) * run.idleFor.Seconds() / run.resync.Seconds()
	r.add("… resyncs started in the window / N × window ÷ period (every site on time)", fmt.Sprintf("%g / %.0f", started, onTime), "")
	buckets := latenessBuckets(before, after)
	if started == 0 || len(buckets) == 0 {
		return
	}
	median, p99, most := latenessQuantile(buckets, 0.5), latenessQuantile(buckets, 0.99), latenessQuantile(buckets, 1)
	r.add("… resync lateness (due → pass start): median / p99 / max, as histogram bucket bounds",
		fmt.Sprintf("%s / %s / %s", latenessBound(buckets, median), latenessBound(buckets, p99), latenessBound(buckets, most)),
		verdict("p99 ≤ 2 s", buckets[p99].le <= 2))
}

// addWorkerLoad adds what the reconcile workers could do in the window: the mean pass, the passes
// a second the workers have time for at that mean, and the mean wait in the work queue.
func addWorkerLoad(r *report, run idleRun, before, after scrape) {
	delta := func(name string) float64 {
		match := map[string]string{"controller": "securesite"}
		if strings.HasPrefix(name, "workqueue_") {
			match = map[string]string{"name": "securesite"}
		}
		return after.sum(name, match) - before.sum(name, match)
	}
	passes, passSecs := delta("controller_runtime_reconcile_time_seconds_count"), delta("controller_runtime_reconcile_time_seconds_sum")
	queued, queueSecs := delta("workqueue_queue_duration_seconds_count"), delta("workqueue_queue_duration_seconds_sum")
	if passes == 0 || queued == 0 {
		return
	}
	mean := passSecs / passes
	r.add(fmt.Sprintf("… mean pass / passes a second %d workers have time for / needed (N ÷ period) / mean wait in the work queue", run.workers),
		fmt.Sprintf("%s / %.0f / %.0f / %s", time.Duration(mean*float64(time.Second)).Round(time.Millisecond), float64(run.workers)/mean,
			float64(run.n)/run.resync.Seconds(), time.Duration(queueSecs/queued*float64(time.Second)).Round(time.Millisecond)), "")
}

// addPassSources adds what else the window's passes came from, when fewer than all were resyncs:
// passes by result (a requeue_after is a short wait a phase asked for), the sites the drift check
// woke, and the backlog waiting for admission at the end.
func addPassSources(r *report, before, after scrape) {
	byResult := map[string]float64{}
	for _, x := range after {
		if x.name == "controller_runtime_reconcile_total" && x.labels["controller"] == "securesite" {
			byResult[x.labels["result"]] += x.value - before.sum(x.name, x.labels)
		}
	}
	drifted := after.sum("securesite_dns_drifted_sites_total", nil) - before.sum("securesite_dns_drifted_sites_total", nil)
	r.add("… passes in the window by result; sites the drift check woke; backlog at the end", fmt.Sprintf("%s; %g; %g",
		ops(byResult), drifted, after.sum("securesite_workqueue_backlog", nil)), "")
}

// latenessBucket is one cumulative bucket of the lateness histogram's increase over the window.
type latenessBucket struct {
	le    float64
	count float64
}

func latenessBuckets(before, after scrape) []latenessBucket {
	var out []latenessBucket
	for _, x := range after {
		if x.name != resyncLatenessMetric+"_bucket" {
			continue
		}
		le, err := strconv.ParseFloat(x.labels["le"], 64)
		if err != nil {
			continue
		}
		out = append(out, latenessBucket{le, x.value - before.sum(x.name, map[string]string{"le": x.labels["le"]})})
	}
	slices.SortFunc(out, func(a, b latenessBucket) int { return cmp.Compare(a.le, b.le) })
	return out
}

// latenessQuantile is the index of the first bucket holding the q-quantile.
func latenessQuantile(buckets []latenessBucket, q float64) int {
	total := buckets[len(buckets)-1].count
	return slices.IndexFunc(buckets, func(b latenessBucket) bool { return b.count >= q*total })
}

// latenessBound reads bucket i as "≤ 0.5 s", or "> 600 s" past the last bound.
func latenessBound(buckets []latenessBucket, i int) string {
	if math.IsInf(buckets[i].le, 1) {
		return fmt.Sprintf("> %g s", buckets[i-1].le)
	}
	return fmt.Sprintf("≤ %g s", buckets[i].le)
}

// shortDuration writes 2m for 2m0s, as the flag is usually given.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// measureDriftRepair: an owned record changed by hand, and one deleted by hand, at a random moment
// of the drift check's cycle; how long until each is back.
func (iw *idleWorld) measureDriftRepair(t *testing.T, r *report, run idleRun) {
	t.Helper()
	var repairs []time.Duration
	edits := []r53types.ChangeAction{r53types.ChangeActionUpsert, r53types.ChangeActionDelete, r53types.ChangeActionUpsert}
	if run.emulator == "moto" {
		// moto 5.2.1 quirk: a CREATE identical to one in the zone's change journal is refused as
		// "already exists" when any record sorts after its name, even after the record was
		// deleted (models.py checks get_record_sets(start_name=…), which returns the rest of the
		// zone). AWS re-creates a deleted record; so does the controller there, and on kumo.
		edits = []r53types.ChangeAction{r53types.ChangeActionUpsert, r53types.ChangeActionUpsert, r53types.ChangeActionUpsert}
	}
	for k, action := range edits {
		iw.hw.mark(fmt.Sprintf("hand %s %d", action, k))
		repairs = append(repairs, handEdit(t, iw.r53, iw.zoneID, (k*37+11)%run.n, action))
		iw.hw.mark(fmt.Sprintf("hand %s %d repaired", action, k))
		time.Sleep(time.Duration(k*17%60) * time.Second) // land the next edit elsewhere in the cycle
	}
	// The worst phase: an edit made just after a drift check read the zone is seen by the next one.
	afterDriftCheck(t, iw.m)
	iw.hw.mark("hand UPSERT after a drift check")
	worst := handEdit(t, iw.r53, iw.zoneID, 23%run.n, r53types.ChangeActionUpsert)
	var s []string
	for _, d := range repairs {
		s = append(s, d.Round(100*time.Millisecond).String())
	}
	r.add(fmt.Sprintf("drift repair: hand %v of an owned A record at spread moments of the check's cycle → restored after", edits), strings.Join(s, ", "),
		verdict("≤ 60 s", slices.Max(repairs) <= 60*time.Second))
	r.add("drift repair: hand UPSERT made just after a drift check (the worst moment; within 0.25 s of its end) → restored after", worst.Round(100*time.Millisecond).String(),
		verdict("≤ 60 s", worst <= 60*time.Second))
}

// addMemory adds the manager's memory at the end: RSS, its anonymous and file-backed parts, and
// the Go runtime's account; and keeps a heap profile in the log directory.
func (iw *idleWorld) addMemory(t *testing.T, r *report) {
	t.Helper()
	m := iw.m
	iw.hw.mark("memory sample")
	_, peak := m.memory(t)
	medRSS := m.medianRSS(t, 5)
	r.add("manager RSS (median of 5, after 30 s without scrapes) / peak at the end", mib(medRSS)+" / "+mib(peak),
		verdict("RSS ≤ 100 MiB", medRSS <= 100<<20))
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.Cmd.Process.Pid))
	var parts []string
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "RssAnon:") || strings.HasPrefix(l, "RssFile:") {
			parts = append(parts, strings.Join(strings.Fields(l), " "))
		}
	}
	r.add("… of which anonymous (heap, stacks) / file-backed (the binary's pages)", strings.Join(parts, ", "), "")
	r.note("Reads are counted by the manager's own AWS call metrics (each page of ListResourceRecordSets is one call). " +
		"The drift check lists every zone with owned records once a minute; per-site resyncs in between use that listing " +
		"(the Route53 snapshot is trusted for the drift interval + 30 s), so site count does not change the read rate.")
	r.add("… of which the Go heap: live / in spans / next GC goal / released to the OS; stacks; runtime metadata", goMemory(t, iw.pprofPort), "")
	heapProfile(t, iw.pprofPort, iw.w.LogDir)
}

// handEdit changes (UPSERT) or deletes the owned A record of idle site i by hand, as a person in
// the console would, and returns how long until the controller has put it back.
func handEdit(t *testing.T, r53 *route53.Client, zoneID string, i int, action r53types.ChangeAction) time.Duration {
	t.Helper()
	name, addr := fmt.Sprintf("api.s%05d.%s", i, idleZone), idleAddress(i)
	value := addr
	if action == r53types.ChangeActionUpsert {
		value = "198.51.100.99"
	}
	_, err := r53.ChangeResourceRecordSets(context.Background(), &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: action, ResourceRecordSet: &r53types.ResourceRecordSet{
			Name: aws.String(name), Type: r53types.RRTypeA, TTL: aws.Int64(300), ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(value)}}}}}}})
	if err != nil {
		t.Fatalf("hand %s of %s: %v", action, name, err)
	}
	t0 := time.Now()
	for recordValue(t, r53, zoneID, name) != addr {
		if time.Since(t0) > 5*time.Minute {
			t.Fatalf("%s not repaired 5 minutes after a hand %s", name, action)
		}
		time.Sleep(250 * time.Millisecond)
	}
	took := time.Since(t0)
	t.Logf("hand %s of %s undone after %s", action, name, took.Round(100*time.Millisecond))
	return took
}

// memorySettle is the quiet spell before the memory sample: no scrapes, the manager's own idle
// work (resyncs, the drift check) only.
const memorySettle = 30 * time.Second

// driftCheckPoll is how often afterDriftCheck scrapes the manager's metrics. A scrape is not
// free (at 10,000 sites it holds ~11 MB and allocates ~23 MB), so the wait looks four times a
// second, not continuously: it returns at most 0.25 s after the check ended.
const driftCheckPoll = 250 * time.Millisecond

// afterDriftCheck returns as soon as the manager's drift check has finished a pass (it counts a
// pass once every zone is read and compared), within driftCheckPoll.
func afterDriftCheck(t *testing.T, m *manager) {
	t.Helper()
	checks := func() float64 { return m.scrape(t).sum("securesite_dns_drift_checks_total", nil) }
	before := checks()
	for deadline := time.Now().Add(3 * time.Minute); checks() == before; time.Sleep(driftCheckPoll) {
		if time.Now().After(deadline) {
			t.Fatal("no drift check in 3 minutes")
		}
	}
}

func idleAddress(i int) string { return fmt.Sprintf("203.0.%d.%d", 113+i/250%10, i%250+1) }

func idleSite(i int) *v1alpha1.SecureSite {
	domain := fmt.Sprintf("s%05d.%s", i, idleZone)
	return &v1alpha1.SecureSite{
		ObjectMeta: metav1.ObjectMeta{Namespace: siteNS, Name: fmt.Sprintf("site-%05d", i)},
		Spec: v1alpha1.SecureSiteSpec{
			Domain:      domain,
			Backend:     &v1alpha1.BackendSpec{Hostname: "api." + domain, Address: idleAddress(i)},
			Certificate: v1alpha1.CertificateSpec{Issuer: v1alpha1.IssuerSelfSigned},
		},
	}
}

// waitIdleReady waits until every site is Ready or, for a site with an ACME certificate, backing
// off after a failed order (the controller then waits an hour by design), and returns how many
// are backing off.
func waitIdleReady(t *testing.T, k8s client.Client, n int, limit time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var list v1alpha1.SecureSiteList
		if err := k8s.List(context.Background(), &list, client.InNamespace(siteNS)); err != nil {
			t.Fatal(err)
		}
		ready, backingOff := 0, 0
		for _, s := range list.Items {
			if c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue {
				ready++
			} else if c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionCertificateReady); c != nil &&
				c.Reason == v1alpha1.ReasonBackingOff {
				backingOff++
			}
		}
		if ready+backingOff == n {
			return backingOff
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sites Ready after %s", ready, n, limit)
		}
		time.Sleep(2 * time.Second)
	}
}

func countRecordSets(t *testing.T, c *route53.Client, zoneID string) int {
	t.Helper()
	n := 0
	p := route53.NewListResourceRecordSetsPaginator(c, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.ResourceRecordSets)
	}
	return n
}

func recordValue(t *testing.T, c *route53.Client, zoneID, name string) string {
	t.Helper()
	out, err := c.ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID), StartRecordName: aws.String(name), StartRecordType: r53types.RRTypeA, MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range out.ResourceRecordSets {
		if strings.TrimSuffix(strings.ToLower(aws.ToString(rs.Name)), ".") == name && rs.Type == r53types.RRTypeA && len(rs.ResourceRecords) > 0 {
			return aws.ToString(rs.ResourceRecords[0].Value)
		}
	}
	return ""
}

// startMoto runs moto_server on a free loopback port until the test ends.
func startMoto(t *testing.T, logDir string) string {
	t.Helper()
	port, err := testworld.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(logDir + "/moto.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("moto_server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting moto_server: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		log.Close()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(url + "/moto-api/"); err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatal("moto_server not up after 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// goMemory reads the Go runtime's own account of the manager's memory (the MemStats trailer of
// /debug/pprof/heap?debug=1): what of the anonymous resident set is live heap, what is the GC's
// headroom, what is not yet returned to the OS, and what is stacks and runtime metadata.
func goMemory(t *testing.T, port int) string {
	t.Helper()
	body, err := pprofGet(port, "/debug/pprof/heap?debug=1")
	if err != nil {
		return err.Error()
	}
	stats := parseMemStats(body)
	// "# Stack = inuse / sys" and "# MSpan = inuse / sys" read as their in-use figure.
	meta := stats["MSpan"] + stats["MCache"] + stats["BuckHashSys"] + stats["GCSys"] + stats["OtherSys"]
	return fmt.Sprintf("%s / %s / %s / %s; %s; %s", mib(stats["HeapAlloc"]), mib(stats["HeapInuse"]), mib(stats["NextGC"]),
		mib(stats["HeapReleased"]), mib(stats["Stack"]), mib(meta))
}

// heapProfile saves the manager's heap profile in the log directory and logs its top entries
// (what grows with sites).
func heapProfile(t *testing.T, port int, dir string) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", port))
	if err != nil {
		t.Logf("heap profile: %v", err)
		return
	}
	defer resp.Body.Close()
	path := filepath.Join(dir, "heap.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Logf("heap profile: %v", err)
		return
	}
	_, _ = io.Copy(f, resp.Body)
	f.Close()
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", "-sample_index=inuse_space", path).CombinedOutput()
	t.Logf("heap profile %s (in use):\n%s%v", path, out, err)
}
