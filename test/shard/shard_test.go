// Package shard runs two managers with complementary --watch-label-selector values on one
// world, as two Deployments sharding one cluster would, and checks that they split the sites.
package shard

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
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
	ns         = "sharded"
	shardLabel = "securesite.io/shard"
)

// TestTwoShardsSplitTheSites: shard A takes sites labelled securesite.io/shard=a, shard B every
// other site (securesite.io/shard notin (a): labelled b, and unlabelled ones). Both run with leader election on; each elects its own
// leader (a shared lease would leave one shard idle). All sites converge, and no site is
// reconciled by both managers: each manager's per-site metrics name only its own sites.
// SECURESITE_SHARD_N sets the number of sites (default 40; the figure is 200).
func TestTwoShardsSplitTheSites(t *testing.T) {
	n := 40
	if v, err := strconv.Atoi(os.Getenv("SECURESITE_SHARD_N")); err == nil && v > 0 {
		n = v
	}
	w := testworld.Start(t)
	k8s := w.Client(t, 200, 400)
	ctx := context.Background()
	for _, name := range []string{"securesite-system", ns} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	w.CreateHostedZone(ctx, "shard.test")
	// The README's recipe: a shard for label value a, and a catch-all for every other site.
	shardA := w.StartManager(t, testworld.ManagerOptions{LogName: "manager-a.log",
		Args: []string{"--watch-label-selector=" + shardLabel + "=a", "--leader-elect"}})
	shardB := w.StartManager(t, testworld.ManagerOptions{LogName: "manager-b.log",
		Args: []string{"--watch-label-selector=" + shardLabel + " notin (a)", "--leader-elect"}})

	start := time.Now()
	inA := createSitesAThirdLabelledA(t, k8s, n)
	waitAllReady(t, k8s, n, start, 10*time.Minute)
	t.Logf("%d sites Ready on two shards in %s", n, time.Since(start).Round(100*time.Millisecond))

	sitesA, sitesB := reconciled(t, shardA), reconciled(t, shardB)
	logWhatEachShardDid(t, sitesA, sitesB, shardA, shardB)
	checkEachSiteReconciledByItsShardOnly(t, n, inA, sitesA, sitesB)
}

// createSitesAThirdLabelledA creates n sites, every third labelled for shard A, every third for
// shard B and the rest unlabelled, and returns the names of those labelled for A.
func createSitesAThirdLabelledA(t *testing.T, k8s client.Client, n int) map[string]bool {
	t.Helper()
	testworld.Parallel(n, 8, func(i int) {
		s := &v1alpha1.SecureSite{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("site-%03d", i)},
			Spec: v1alpha1.SecureSiteSpec{
				Domain:      fmt.Sprintf("s%03d.shard.test", i),
				Backend:     &v1alpha1.BackendSpec{Hostname: fmt.Sprintf("api.s%03d.shard.test", i), Address: fmt.Sprintf("203.0.113.%d", i%250+1)},
				Certificate: v1alpha1.CertificateSpec{Issuer: v1alpha1.IssuerSelfSigned},
			},
		}
		switch i % 3 {
		case 0:
			s.Labels = map[string]string{shardLabel: "a"}
		case 1:
			s.Labels = map[string]string{shardLabel: "b"}
		}
		if err := k8s.Create(context.Background(), s); err != nil {
			t.Errorf("creating %s: %v", s.Name, err)
		}
	})
	inA := map[string]bool{}
	for i := range n {
		if i%3 == 0 {
			inA[fmt.Sprintf("site-%03d", i)] = true
		}
	}
	return inA
}

// waitAllReady waits until n sites of the namespace are Ready.
func waitAllReady(t *testing.T, k8s client.Client, n int, start time.Time, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var list v1alpha1.SecureSiteList
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, s := range list.Items {
			if c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue {
				ready++
			}
		}
		if ready == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sites Ready after %s", ready, n, time.Since(start).Round(time.Second))
		}
		time.Sleep(time.Second)
	}
}

// logWhatEachShardDid logs how many sites each shard reconciled and its Route53 calls.
func logWhatEachShardDid(t *testing.T, sitesA, sitesB map[string]bool, shardA, shardB *testworld.ManagerProcess) {
	t.Helper()
	both := 0
	for name := range sitesA {
		if sitesB[name] {
			both++
		}
	}
	t.Logf("sites reconciled: shard A %d, shard B %d, by both %d", len(sitesA), len(sitesB), both)
	for _, m := range []struct {
		name string
		p    *testworld.ManagerProcess
	}{{"A", shardA}, {"B", shardB}} {
		byOp := route53Calls(t, m.p)
		t.Logf("shard %s Route53 calls to converge: %d %v", m.name, sum(byOp), byOp)
	}
}

// checkEachSiteReconciledByItsShardOnly: shard A reconciled only the sites labelled a, shard B
// only the others, none both, and every site one of them.
func checkEachSiteReconciledByItsShardOnly(t *testing.T, n int, inA, sitesA, sitesB map[string]bool) {
	t.Helper()
	for name := range sitesA {
		if !inA[name] {
			t.Errorf("shard A reconciled %s, which is not labelled %s=a", name, shardLabel)
		}
		if sitesB[name] {
			t.Errorf("%s reconciled by both shards", name)
		}
	}
	for name := range sitesB {
		if inA[name] {
			t.Errorf("shard B reconciled %s, which is labelled %s=a", name, shardLabel)
		}
	}
	if len(sitesA)+len(sitesB) != n {
		t.Errorf("shards reconciled %d + %d sites, want %d in all", len(sitesA), len(sitesB), n)
	}
}

var conditionSeries = regexp.MustCompile(`^securesite_condition\{.*name="([^"]+)",namespace="` + ns + `"`)

var route53Series = regexp.MustCompile(`^securesite_aws_api_calls_total\{(.*)\} ([0-9.e+]+)$`)
var operationLabel = regexp.MustCompile(`operation="([^"]+)"`)

// route53Calls counts a manager's Route53 calls by operation (all results), from its metrics.
func route53Calls(t *testing.T, m *testworld.ManagerProcess) map[string]int {
	t.Helper()
	lines, err := m.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, l := range lines {
		mm := route53Series.FindStringSubmatch(l)
		if mm == nil || !strings.Contains(mm[1], `service="Route 53"`) {
			continue
		}
		op := operationLabel.FindStringSubmatch(mm[1])
		n, err := strconv.ParseFloat(mm[2], 64)
		if op != nil && err == nil {
			out[op[1]] += int(n)
		}
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// reconciled lists the sites a manager has reconciled (it writes their condition metrics).
func reconciled(t *testing.T, m *testworld.ManagerProcess) map[string]bool {
	t.Helper()
	lines, err := m.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range lines {
		if mm := conditionSeries.FindStringSubmatch(l); mm != nil {
			out[mm[1]] = true
		}
	}
	return out
}
