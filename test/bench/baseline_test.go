package bench

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/securesite-io/securesite/internal/testworld"
)

// baselineSettle is how long the manager is left alone before its memory is read: start-up
// garbage collected, the first drift check and resync tick done.
const baselineSettle = 20 * time.Second

// TestIdleBaseline measures the manager's memory that does not depend on site count: the real
// binary on the test world with N idle sites (0 by default), run twice in one world, first at its
// defaults (no profiler), then with --pprof-bind-address, which adds the Go runtime's own account
// (MemStats after a collection) and a heap profile in the log directory.
// SECURESITE_BASELINE_GODEBUG is the second manager's GODEBUG: memprofilerate=1 makes the profile
// record every allocation (its RSS is then not the production figure), memprofilerate=0 shows
// what the runtime holds without the profiler's sampling.
// SECURESITE_BASELINE_BINARY runs a manager binary built elsewhere (e.g. from an earlier commit)
// instead of the working tree's. SECURESITE_BASELINE_OUT names a directory that keeps heap.pprof after the test (the log
// directory is removed with the test's).
//
//	SECURESITE_BASELINE_N=0 [SECURESITE_BASELINE_GODEBUG=memprofilerate=1] go test -count=1 -run TestIdleBaseline -v ./test/bench/
func TestIdleBaseline(t *testing.T) {
	v, ok := os.LookupEnv("SECURESITE_BASELINE_N")
	if !ok {
		t.Skip("set SECURESITE_BASELINE_N=0 to run; see docs/benchmarks.md")
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatal(err)
	}
	w := testworld.Start(t)
	k8s := w.Client(t, 500, 1000)
	for _, ns := range []string{"securesite-system", siteNS} {
		mustCreate(t, k8s, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	if n > 0 {
		createBaselineSites(t, w, n)
	}

	bin := os.Getenv("SECURESITE_BASELINE_BINARY")
	plain := &manager{ManagerProcess: w.StartManager(t, testworld.ManagerOptions{Binary: bin, LogName: "manager-defaults.log"})}
	if n > 0 {
		waitIdleReady(t, k8s, n, 10*time.Minute)
	}
	time.Sleep(baselineSettle)
	t.Logf("defaults (no profiler), N=%d: %s", n, procMemory(plain.Cmd.Process.Pid))
	plain.Stop(15 * time.Second)

	port, err := testworld.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	o := testworld.ManagerOptions{Binary: bin, LogName: "manager-pprof.log", Args: []string{fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", port)}}
	godebug := os.Getenv("SECURESITE_BASELINE_GODEBUG")
	if godebug != "" {
		o.Env = []string{"GODEBUG=" + godebug}
	}
	profiled := &manager{ManagerProcess: w.StartManager(t, o)}
	time.Sleep(baselineSettle)
	t.Logf("--pprof-bind-address (GODEBUG=%s), N=%d: %s", godebug, n, procMemory(profiled.Cmd.Process.Pid))
	t.Logf("Go runtime after a collection: %s", baselineMemStats(t, port))
	heapProfile(t, port, cmp.Or(os.Getenv("SECURESITE_BASELINE_OUT"), w.LogDir))
	t.Logf("goroutines by where they wait:\n%s", goroutineSummary(t, port))
}

// goroutineSummary is the head of the manager's goroutine profile: the total, then each group of
// goroutines with the same stack (the largest first), one line each.
func goroutineSummary(t *testing.T, port int) string {
	t.Helper()
	body, err := pprofGet(port, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, block := range strings.Split(string(body), "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		// "N @ 0x…" then "#\t0x…\tfunction+0x…\tfile:line" frames: the count and the first frame
		// outside the runtime say what the group is.
		head, where := lines[0], ""
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) >= 3 && !strings.HasPrefix(f[2], "runtime.") && !strings.HasPrefix(f[2], "internal/") &&
				!strings.HasPrefix(f[2], "sync.") && !strings.HasPrefix(f[2], "time.") {
				where = f[2]
				break
			}
		}
		if n, _, ok := strings.Cut(head, " @ "); ok {
			head = n + " " + where
		}
		out = append(out, head)
	}
	return strings.Join(out, "\n")
}

// createBaselineSites makes a zone and n idle sites (backend record, self-signed certificate).
func createBaselineSites(t *testing.T, w *testworld.World, n int) {
	t.Helper()
	r53 := route53.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testworld.EmulatorCredentials, nil }),
		BaseEndpoint: aws.String(w.AWS.URL),
	})
	if _, err := r53.CreateHostedZone(context.Background(), &route53.CreateHostedZoneInput{
		Name: aws.String(idleZone), CallerReference: aws.String(strconv.FormatInt(time.Now().UnixNano(), 36))}); err != nil {
		t.Fatal(err)
	}
	k8s := w.Client(t, 500, 1000)
	testworld.Parallel(n, 16, func(i int) { mustCreate(t, k8s, idleSite(i)) })
}

// procMemory is the resident set of a process and its anonymous and file-backed parts, from
// /proc/<pid>/status; three readings a second apart, the median of each.
func procMemory(pid int) string {
	var rss, anon, file []int64
	for i := range 3 {
		if i > 0 {
			time.Sleep(time.Second)
		}
		rss = append(rss, procKB(pid, "VmRSS")<<10)
		anon = append(anon, procKB(pid, "RssAnon")<<10)
		file = append(file, procKB(pid, "RssFile")<<10)
	}
	return fmt.Sprintf("RSS %s (anonymous %s, file-backed %s)", mib(median(rss)), mib(median(anon)), mib(median(file)))
}

// baselineMemStats reads the MemStats trailer of a heap profile taken right after a collection
// (?gc=1): the live heap and what the runtime holds beside it.
func baselineMemStats(t *testing.T, port int) string {
	t.Helper()
	body, err := pprofGet(port, "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		t.Fatal(err)
	}
	s := parseMemStats(body)
	var parts []string
	for _, k := range []string{"HeapAlloc", "HeapInuse", "NextGC", "Stack", "MSpan", "MCache", "BuckHashSys", "GCSys", "OtherSys", "Sys"} {
		parts = append(parts, fmt.Sprintf("%s %s", k, mib(s[k])))
	}
	return strings.Join(parts, ", ")
}
