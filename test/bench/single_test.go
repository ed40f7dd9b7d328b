package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/internal/testworld"
)

// singleRuns is how many sites are timed one after the other; the figure is their median.
const singleRuns = 5

// singleRun is one site's apply and the moment the client saw it Ready.
type singleRun struct{ applied, ready time.Time }

func (r singleRun) took() time.Duration { return r.ready.Sub(r.applied) }

// timeSingleSites applies n sites (backend record + ACME certificate) one after the other, each
// once the previous one is Ready, and returns when each was applied and seen Ready by the client
// (polling every 50 ms).
func timeSingleSites(t *testing.T, k8s client.Client, namespace string, first, n int) []singleRun {
	t.Helper()
	mustCreate(t, k8s, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})
	var out []singleRun
	for i := range n {
		s := benchSite(first + i)
		s.Namespace, s.Spec.StaticSite = namespace, nil
		t0 := time.Now()
		mustCreate(t, k8s, s)
		out = append(out, singleRun{applied: t0, ready: waitSiteReady(t, k8s, s, 2*time.Minute)})
	}
	return out
}

func tookEach(runs []singleRun) []time.Duration {
	out := make([]time.Duration, len(runs))
	for i, r := range runs {
		out[i] = r.took()
	}
	return out
}

// spread renders durations as "median (min … max, n runs)".
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "n/a"
	}
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("%s (%s … %s, %d runs)", r(median(ds)), r(slices.Min(ds)), r(slices.Max(ds)), len(ds))
}

// TestSingleSite times one site from apply to Ready on an idle controller, several times one after
// the other, and splits each run into the steps the manager's log shows, so the table says where
// the time goes.
func TestSingleSite(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SECURESITE_SINGLE_N"))
	if n <= 0 {
		t.Skipf("set SECURESITE_SINGLE_N=%d to time a single site; see docs/benchmarks.md", singleRuns)
	}
	r := &report{n: n, started: time.Now(), load: loadAverage(), key: "single site",
		title: "Single site: apply → Ready, step by step",
		cmd:   fmt.Sprintf("SECURESITE_SINGLE_N=%d go test -count=1 -run TestSingleSite -v ./test/bench/", n)}
	// The same world as TestBenchmark's, DNS zone cache included.
	w := testworld.Start(t, testworld.WithDNSZoneCache(250*time.Millisecond))
	k8s := w.Client(t, 500, 1000) // client-go's default 5 QPS would measure its rate limiter
	mustCreate(t, k8s, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "securesite-system"}})
	w.CreateHostedZone(t.Context(), zoneName)
	m := w.StartManager(t, testworld.ManagerOptions{Args: []string{
		"--acme-email=bench@bench.test", "--max-concurrent-reconciles=8", fmt.Sprintf("--issuance-workers=%d", issuanceWorkers),
		// lego's steps are read from the log.
		"--zap-time-encoding=rfc3339nano",
	}})
	mgr := &manager{ManagerProcess: m}
	before := mgr.scrape(t)
	const first = 9100
	start := time.Now()
	runs := timeSingleSites(t, k8s, "single", first, n)
	totals := tookEach(runs)
	r53 := testworld.CountDiff(mgr.scrape(t).awsCallsByOp("Route 53"), before.awsCallsByOp("Route 53"))
	r.loadEnd = loadAverage()

	lines, err := readLog(m.LogPath, start)
	if err != nil {
		t.Fatal(err)
	}
	steps := readSteps(append(lines, siteEvents(t, k8s, "single")...), first, runs)
	r.add("apply → Ready as the client sees it", spread(totals), verdict("≤ 3 s", median(totals) <= 3*time.Second))
	for _, s := range siteSteps {
		r.add("… "+s.what, spread(steps[s.what]), "")
	}
	r.add("… "+readySeen, spread(steps[readySeen]), "")
	r.add("Route53 calls per site, by operation", fmt.Sprintf("%.1f: %s", total(r53)/float64(n), ops(r53)), "≤ 5")
	r.note("Each step is the time from the step before it, taken from the manager's log (lego's lines) and the " +
		"site's Events (their eventTime); the first run also registers the ACME account. The client polls the site " +
		"every 50 ms.")
	t.Logf("single site, %d runs:\n%s", n, r.table())
	if _, err := writeDoc(r); err != nil {
		t.Fatal(err)
	}
}

// siteStep is one step of a site's way to Ready, recognised by a line of the manager's log.
type siteStep struct {
	what  string
	match func(l logLine, domain, name string) bool
	last  bool // the step ends with the last matching line (every name validated), else the first
}

// The removal of the challenge records is not a step: it runs beside the rest of the order (one
// Route53 change after the names are validated) and holds up neither the certificate nor Ready.
var siteSteps = []siteStep{
	{what: "order submitted (first reconcile: permission, zone, certificate phase)", match: func(l logLine, _, name string) bool {
		return l.Logger == "events" && l.Object.Name == name && l.Reason == "Issuing"
	}},
	{what: "order taken by an issuance worker", match: func(l logLine, domain, _ string) bool {
		return l.Logger == "acme" && strings.HasPrefix(l.Msg, "Obtaining") && l.has(domain)
	}},
	{what: "order created at the CA, authorizations read, challenge records written (one Route53 change)", match: func(l logLine, domain, _ string) bool {
		return l.Msg == "dns01: challenge records written." && l.has(domain)
	}},
	{what: "every name validated (INSYNC, propagation check, CA validation)", last: true, match: func(l logLine, domain, _ string) bool {
		return l.Msg == "The server validated our request." && l.has(domain)
	}},
	{what: "order finalized, certificate downloaded", match: func(l logLine, domain, _ string) bool {
		return l.Msg == "Server responded with a certificate." && l.has(domain)
	}},
	{what: "Secret written (renewal info, wake-up, reconcile)", match: func(l logLine, _, name string) bool {
		return l.Logger == "events" && l.Object.Name == name && l.Reason == "Issued"
	}},
}

// logLine is the part of a manager log line (zap JSON) the steps are recognised by.
type logLine struct {
	TS      string `json:"ts"`
	Logger  string `json:"logger"`
	Msg     string `json:"msg"`
	Reason  string `json:"reason"`
	Domain  string `json:"domain"`
	Domains string `json:"domains"`
	Object  struct {
		Name string `json:"name"`
	} `json:"object"`
	at time.Time
}

// has reports whether the line is about domain or a name below it.
func (l logLine) has(domain string) bool {
	for _, d := range strings.Split(l.Domain+", "+l.Domains, ", ") {
		if d == domain || strings.HasSuffix(d, "."+domain) {
			return true
		}
	}
	return false
}

const readySeen = "Ready seen by the client (status patch, client poll)"

// readSteps returns, by step, each site's time from the step before (from apply for the first
// step, and Ready as the client saw it after the last). A step not seen is left out for that site.
func readSteps(lines []logLine, first int, runs []singleRun) map[string][]time.Duration {
	out := map[string][]time.Duration{}
	for i, run := range runs {
		site := benchSite(first + i)
		prev := run.applied
		for _, s := range siteSteps {
			if at, ok := stepTime(lines, s, site.Spec.Domain, site.Name); ok {
				out[s.what] = append(out[s.what], at.Sub(prev))
				prev = at
			}
		}
		out[readySeen] = append(out[readySeen], run.ready.Sub(prev))
	}
	return out
}

// siteEvents are the Events of the namespace's sites, as lines the steps recognise.
func siteEvents(t *testing.T, k8s client.Client, namespace string) []logLine {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(t.Context(), &list, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	var out []logLine
	for _, ev := range list.Items {
		l := logLine{Logger: "events", Reason: ev.Reason, at: ev.EventTime.Time}
		l.Object.Name = ev.Regarding.Name
		out = append(out, l)
	}
	return out
}

func readLog(path string, since time.Time) ([]logLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if at, err := time.Parse(time.RFC3339Nano, l.TS); err == nil && !at.Before(since) {
			l.at = at
			lines = append(lines, l)
		}
	}
	return lines, sc.Err()
}

func stepTime(lines []logLine, s siteStep, domain, name string) (time.Time, bool) {
	var at time.Time
	for _, l := range lines {
		if s.match(l, domain, name) {
			at = l.at
			if !s.last {
				break
			}
		}
	}
	return at, !at.IsZero()
}
