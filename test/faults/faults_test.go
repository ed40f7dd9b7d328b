package faults

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/testworld"
	"github.com/securesite-io/securesite/internal/testworld/faultproxy"
)

// TestSitesConvergeUnderFaults applies N sites while a fifth of AWS requests fail (throttling,
// 5xx, lost connections) and pebble rejects a fifth of the nonces: every site must reach Ready,
// and every retried create must not have created a second distribution, bucket, ACM certificate
// or certificate order. N is 10 in `make test`; SECURESITE_FAULTS_N=100 runs the full size.
func TestSitesConvergeUnderFaults(t *testing.T) {
	n := 10
	if v, _ := strconv.Atoi(os.Getenv("SECURESITE_FAULTS_N")); v > 0 {
		n = v
	}
	const zone, ns = "faults.test", "faults"
	start := time.Now()
	r, proxy := startRigBehindFaults(t, zone)
	r.createNamespace(ns)
	callsBefore := awsResults()
	issuedBefore, failedBefore := counter(acme.Orders, acme.ResultIssued), counter(acme.Orders, acme.ResultFailed)
	r.startManager(proxy.URL)

	applied := time.Now()
	names, static := createSites(r, ns, zone, n)
	bound := 5*time.Minute + time.Duration(n)*6*time.Second
	sites := r.waitConverged(ns, names, bound)
	converged := time.Since(applied)
	// Faults off before reading the emulator, so the inventory is what the controller left, not what a
	// retry in flight is about to change.
	proxy.SetRate(0)
	inv := r.inventory()

	fig := checkOneOfEachPerStaticSite(t, ns, names, static, sites, inv)
	fig.issued = counter(acme.Orders, acme.ResultIssued) - issuedBefore
	fig.failed = counter(acme.Orders, acme.ResultFailed) - failedBefore
	if fig.issued != float64(n) {
		t.Errorf("%g certificate orders issued for %d sites", fig.issued, n)
		fig.duplicates += max(0, int(fig.issued)-n)
	}

	fig.n, fig.converged, fig.duration = n, converged, time.Since(start)
	fig.emulator = r.w.AWS.Name
	t.Log(fig.report(proxy, testworld.CountDiff(awsResults(), callsBefore), inv))
	if injected, _ := proxy.Total(); injected == 0 {
		t.Error("no faults were injected: the manager did not go through the proxy")
	}
}

// startRigBehindFaults starts the world with pebble rejecting a fifth of the nonces, and a fault
// proxy in front of AWS failing a fifth of the requests.
func startRigBehindFaults(t *testing.T, zone string) (*rig, *faultproxy.Proxy) {
	r := startRig(t, zone, testworld.WithPebbleOptions(testworld.PebbleOptions{Env: []string{"PEBBLE_WFE_NONCEREJECT=20"}}))
	opts := faultproxy.Options{Rate: 0.2, Seed: 2026}
	if os.Getenv("SECURESITE_FAULTS_RESPONSE_LOST") != "" {
		// Also lose answers to requests the emulator carried out: a known gap for ACM imports (no
		// idempotency token on AWS either), so not in the default mix.
		opts.Kinds = []faultproxy.Kind{faultproxy.Throttling, faultproxy.PriorRequestNotComplete, faultproxy.SlowDown,
			faultproxy.ThrottlingException, faultproxy.InternalError, faultproxy.ServiceUnavailable,
			faultproxy.ConnectionLost, faultproxy.ResponseLost}
	}
	proxy, err := faultproxy.Start(r.w.AWS.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	return r, proxy
}

// createSites creates n sites, every fifth one static, and returns their names and which are static.
func createSites(r *rig, ns, zone string, n int) ([]string, map[string]bool) {
	var names []string
	static := map[string]bool{}
	for i := range n {
		s := site(ns, zone, i, i%5 == 0)
		r.mustCreate(s)
		names = append(names, s.Name)
		static[s.Name] = s.Spec.StaticSite != nil
	}
	return names, static
}

// faultRunFigures are what the run reports.
type faultRunFigures struct {
	emulator                         string
	n, staticSites, oacs, duplicates int
	issued, failed                   float64
	converged, duration              time.Duration
}

// checkOneOfEachPerStaticSite: no duplicates: one distribution, OAC, bucket and ACM certificate
// per static site, each the one its status names, and nothing for the others.
func checkOneOfEachPerStaticSite(t *testing.T, ns string, names []string, static map[string]bool,
	sites map[string]v1alpha1.SecureSite, inv inventory) faultRunFigures {
	t.Helper()
	var fig faultRunFigures
	for _, name := range names {
		fig.duplicates += checkSiteObjects(t, ns, name, static[name], sites[name], inv)
	}
	var wantBuckets []string
	for _, name := range names {
		if static[name] {
			wantBuckets = append(wantBuckets, naming.DefaultBucketName(sites[name].Spec.Domain))
		}
	}
	sort.Strings(wantBuckets)
	fig.staticSites = len(wantBuckets)
	if strings.Join(inv.buckets, " ") != strings.Join(wantBuckets, " ") {
		t.Errorf("buckets %v, want %v", inv.buckets, wantBuckets)
		fig.duplicates += max(0, len(inv.buckets)-len(wantBuckets))
	}
	if len(inv.certs) != len(wantBuckets) {
		t.Errorf("%d ACM certificates for %d static sites: %v", len(inv.certs), len(wantBuckets), inv.certs)
		fig.duplicates += max(0, len(inv.certs)-len(wantBuckets))
	}
	for name, ids := range inv.oacs {
		fig.oacs += len(ids)
		if len(ids) > 1 {
			t.Errorf("OAC %s created %d times: %v", name, len(ids), ids)
			fig.duplicates += len(ids) - 1
		}
	}
	if fig.oacs != len(wantBuckets) {
		t.Errorf("%d origin access controls, want %d: %v", fig.oacs, len(wantBuckets), inv.oacs)
	}
	return fig
}

// checkSiteObjects: a static site has one distribution, the one its status names, and its ACM
// certificate exists; any other site has no distribution. It returns the duplicates found.
func checkSiteObjects(t *testing.T, ns, name string, static bool, s v1alpha1.SecureSite, inv inventory) int {
	t.Helper()
	duplicates := 0
	comment := fmt.Sprintf("SecureSite %s/%s", ns, name)
	wantN := 0
	if static {
		wantN = 1
	}
	dists := inv.distributions[comment]
	if len(dists) != wantN {
		t.Errorf("%s: %d distribution(s) %v, want %d", name, len(dists), dists, wantN)
		duplicates += max(0, len(dists)-wantN)
	}
	if !static {
		return duplicates
	}
	if s.Status.Distribution == nil || len(dists) != 1 || dists[0] != s.Status.Distribution.ID {
		t.Errorf("%s: status names distribution %+v, the emulator has %v", name, s.Status.Distribution, dists)
	}
	if s.Status.Certificate == nil || !slices.Contains(inv.certs, s.Status.Certificate.ACMCertificateARN) {
		t.Errorf("%s: status names ACM certificate %+v, the emulator has %v", name, s.Status.Certificate, inv.certs)
	}
	return duplicates
}

// report: the faults injected, the retries they caused, the orders, and what the emulator holds.
func (fig faultRunFigures) report(proxy *faultproxy.Proxy, retries map[string]float64, inv inventory) string {
	injected, passed := proxy.Total()
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d sites (%d static), 20%% AWS faults, pebble rejecting 20%% of nonces\n", fig.n, fig.staticSites)
	fmt.Fprintf(&b, "%-44s %s\n", "all Ready after", fig.converged.Round(time.Second))
	fmt.Fprintf(&b, "%-44s %d of %d requests\n", "AWS faults injected", injected, injected+passed)
	byKind := proxy.Injected()
	for _, svc := range sortedKeys(byKind) {
		for _, k := range sortedKeys(byKind[svc]) {
			fmt.Fprintf(&b, "  %-42s %d\n", string(svc)+" "+string(k), byKind[svc][k])
		}
	}
	total := 0.0
	for _, k := range sortedKeys(retries) {
		total += retries[k]
	}
	fmt.Fprintf(&b, "%-44s %g (faults plus expected not-found answers)\n", "AWS attempts with an error result", total)
	for _, k := range sortedKeys(retries) {
		fmt.Fprintf(&b, "  %-42s %g\n", k, retries[k])
	}
	fmt.Fprintf(&b, "%-44s %g issued, %g failed\n", "ACME orders", fig.issued, fig.failed)
	fmt.Fprintf(&b, "%-44s %d distributions, %d OACs, %d buckets, %d ACM certs\n", fig.emulator+" holds",
		countAll(inv.distributions), fig.oacs, len(inv.buckets), len(inv.certs))
	fmt.Fprintf(&b, "%-44s %d\n", "duplicates found", fig.duplicates)
	fmt.Fprintf(&b, "%-44s %s", "test duration", fig.duration.Round(time.Second))
	return b.String()
}

func countAll(m map[string][]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func counter(v *prometheus.CounterVec, label string) float64 {
	var m dto.Metric
	_ = v.WithLabelValues(label).Write(&m)
	return m.GetCounter().GetValue()
}

// awsResults reads awsclient.Calls: failed attempts by "service result".
func awsResults() map[string]float64 {
	out := map[string]float64{}
	for _, c := range awsclient.CallSamples() {
		if c.Result != "ok" {
			out[c.Service+" "+c.Result] += c.Count
		}
	}
	return out
}
