package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/securesite-io/securesite/internal/testworld"
)

// manager is the real manager binary running as its own process, so that its memory is its own
// (an in-process manager would share the heap with the test's client and world).
type manager struct {
	*testworld.ManagerProcess
	// pprofAddr serves the manager's profiles when SECURESITE_BENCH_CPUPROFILE asks for one.
	pprofAddr string
}

// issuanceWorkers is the manager's pool of ACME orders in the benchmark; the pebble floor's client
// runs as many orders at once, so the two are compared at the same concurrency.
const issuanceWorkers = 16

// startManager runs the manager against the world with the worker counts the benchmark measures.
func startManager(t *testing.T, w *testworld.World) *manager {
	t.Helper()
	args := []string{
		"--acme-email=bench@bench.test", "--max-concurrent-reconciles=8", fmt.Sprintf("--issuance-workers=%d", issuanceWorkers),
		// Timestamps to the nanosecond, so an order's steps can be read from the log.
		"--zap-time-encoding=rfc3339nano",
	}
	var pprofAddr string
	if os.Getenv("SECURESITE_BENCH_CPUPROFILE") != "" {
		port, err := testworld.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
		args = append(args, "--pprof-bind-address="+pprofAddr)
	}
	m := w.StartManager(t, testworld.ManagerOptions{Args: args})
	t.Logf("manager pid %d, metrics %s, log %s", m.Cmd.Process.Pid, m.MetricsURL, m.LogPath)
	return &manager{ManagerProcess: m, pprofAddr: pprofAddr}
}

// memory reads the manager's resident set (VmRSS) and its peak (VmHWM) in bytes.
func (m *manager) memory(t *testing.T) (rss, peak int64) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", m.Cmd.Process.Pid))
	if err != nil {
		t.Fatalf("reading manager memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("parsing %s %q: %v", key, val, err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak
}

// cpu is the CPU time the manager has used so far (user + system, from /proc/<pid>/stat).
func (m *manager) cpu(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.Cmd.Process.Pid))
	if err != nil {
		t.Fatalf("reading manager CPU time: %v", err)
	}
	// Fields after the command name (which is in parentheses and may hold spaces); utime and
	// stime are the 14th and 15th fields of the line, in clock ticks (100 per second on Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// medianRSS samples VmRSS n times, one second apart: a single reading catches the Go heap at an
// arbitrary point of its GC cycle.
func (m *manager) medianRSS(t *testing.T, n int) int64 {
	t.Helper()
	var samples []int64
	for i := range n {
		if i > 0 {
			time.Sleep(time.Second)
		}
		rss, _ := m.memory(t)
		samples = append(samples, rss)
	}
	return median(samples)
}

// series is one Prometheus sample: metric name and labels in their exposition order.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

type scrape []series

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrape reads the manager's metrics endpoint. The text format is parsed here rather than through
// prometheus/common, which the module only has as an indirect dependency.
func (m *manager) scrape(t *testing.T) scrape {
	t.Helper()
	return scrapeURL(t, http.DefaultClient, m.MetricsURL, "the manager")
}

// apiServerScrape reads the world's API server's metrics endpoint.
func apiServerScrape(t *testing.T, w *testworld.World) scrape {
	t.Helper()
	hc, err := rest.HTTPClientFor(w.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	return scrapeURL(t, hc, strings.TrimSuffix(w.RESTConfig.Host, "/")+"/metrics", "the API server")
}

func scrapeURL(t *testing.T, hc *http.Client, url, what string) scrape {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("scraping the metrics of %s: %v", what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return parseScrape(body)
}

func parseScrape(body []byte) scrape {
	var out scrape
	for _, line := range strings.Split(string(body), "\n") {
		sm := sampleLine.FindStringSubmatch(line)
		if sm == nil || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(sm[3], 64)
		if err != nil {
			continue
		}
		s := series{name: sm[1], labels: map[string]string{}, value: v}
		for _, lp := range labelPair.FindAllStringSubmatch(sm[2], -1) {
			s.labels[lp[1]] = lp[2]
		}
		out = append(out, s)
	}
	return out
}

// sum adds the samples of a metric whose labels include all of match.
func (s scrape) sum(name string, match map[string]string) float64 {
	var total float64
	for _, x := range s {
		if x.name != name {
			continue
		}
		ok := true
		for k, v := range match {
			if x.labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			total += x.value
		}
	}
	return total
}

const awsCalls = "securesite_aws_api_calls_total"

// awsCallsByOp returns AWS call attempts of one service by operation, all results together.
func (s scrape) awsCallsByOp(service string) map[string]float64 {
	out := map[string]float64{}
	for _, x := range s {
		if x.name == awsCalls && x.labels["service"] == service {
			out[x.labels["operation"]] += x.value
		}
	}
	return out
}

func total(m map[string]float64) float64 {
	var t float64
	for _, v := range m {
		t += v
	}
	return t
}

// isRoute53Write tells writes from reads by the operation's verb.
func isRoute53Write(op string) bool {
	for _, verb := range []string{"Change", "Create", "Delete", "Update", "Associate", "Disassociate"} {
		if strings.HasPrefix(op, verb) {
			return true
		}
	}
	return false
}

func readsWrites(byOp map[string]float64) (reads, writes float64) {
	for op, n := range byOp {
		if isRoute53Write(op) {
			writes += n
		} else {
			reads += n
		}
	}
	return reads, writes
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
