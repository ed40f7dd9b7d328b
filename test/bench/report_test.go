package bench

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/securesite-io/securesite/internal/testworld"
)

// row is one line of the results table: what was measured, the figure, and the design target it
// is held against (empty when there is none).
type row struct {
	what, value, target string
}

type report struct {
	n int
	// key names the section in docs/benchmarks.md ("N=100"; other benchmarks use their own);
	// title and cmd default to the convergence benchmark's.
	key, title, cmd string
	started         time.Time
	load            string // /proc/loadavg at the start and end: the machine may be shared
	loadEnd         string
	rows            []row
	notes           []string
}

func (r *report) add(what, value, target string) { r.rows = append(r.rows, row{what, value, target}) }

func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// verdict marks a target as met or missed, for the table's target column.
func verdict(target string, met bool) string {
	if met {
		return target + " — met"
	}
	return target + " — **missed**"
}

func command(n int) string {
	return fmt.Sprintf("SECURESITE_BENCH_N=%d go test -count=1 -timeout 60m -run TestBenchmark -v ./test/bench/", n)
}

// table renders the results as Markdown; the same text goes to the test log and the docs.
func (r *report) table() string {
	var b strings.Builder
	b.WriteString("| measure | value | target |\n|---|---|---|\n")
	for _, x := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", x.what, x.value, x.target)
	}
	return b.String()
}

func (r *report) section() string {
	var b strings.Builder
	title, cmd := r.title, r.cmd
	if title == "" {
		title = fmt.Sprintf("N = %d sites", r.n)
	}
	if cmd == "" {
		cmd = command(r.n)
	}
	fmt.Fprintf(&b, "## %s\n\n", title)
	fmt.Fprintf(&b, "- date: %s\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- machine: %s, %d CPUs (nproc), %s memory; load average %s at the start, %s at the end\n",
		cpuModel(), runtime.NumCPU(), memTotal(), r.load, r.loadEnd)
	fmt.Fprintf(&b, "- %s, kumo v0.33.1, pebble v2.10.1 (`PEBBLE_VA_NOSLEEP=1`), kube-apiserver v1.37.2\n", runtime.Version())
	fmt.Fprintf(&b, "- command: `%s`\n\n", cmd)
	b.WriteString(r.table())
	if len(r.notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

const docHeader = `# Benchmarks

Figures from the benchmark harness in ` + "`test/bench/`" + `: the real manager binary, run as its own process
against the offline test world (kube-apiserver + etcd, kumo for AWS, pebble for ACME), reconciling
N SecureSites in one hosted zone (each with a backend record and an ACME certificate; every 10th
also with an S3 bucket, an ACM import and a CloudFront distribution).

Reproduce with ` + "`make bench`" + ` (N = 100, about 3 minutes) or the command under each section
(N = 1,000: about 5 minutes on 2 cores). The benchmark starts the test world's DNS server with
shared zone reads (` + "`testworld.WithDNSZoneCache(250ms)`" + `): every query that comes while a read of the
zone runs, or within 250 ms of its start, is answered from it. Reading a zone of 3,000 records
from kumo for each query made the reads pile up under hundreds of concurrent lookups, and pebble's
DNS client gives up after 2 s without retrying: 23 of 1,000 orders failed that way in the
2026-11-30 12:57 UTC run (` + "`TestConcurrentQueriesShareZoneReads`" + ` in ` + "`internal/testworld/dnsserver`" + `: 200 concurrent
lookups of one 3,000-record zone made 195 zone reads and all 200 timed out; now 1 read, none time
out). A site whose order still fails is reported as backing off (the controller then waits an
hour, by design) rather than stalling the run. Each run rewrites only its own section. kumo and pebble answer in microseconds where AWS and Let's Encrypt take
seconds, so the wall times measure the controller's own parallelism, not AWS; the call counts and
memory figures carry over.

Targets (from the design): a steady-state resync costs O(zones) Route53 reads, not O(sites), and no
writes; a new certificate costs ≤ 5 Route53 calls on average; 10,000 unrelated Secrets add ≤ 5 MiB
to the manager's memory, since it caches only the Secrets it labels.

The convergence sections ("N = …") also hold the **pebble floor** — pebble alone issuing N
certificates to a minimal ACME client with the same DNS-01 validation, as many orders at a time as
the manager's issuance workers (16): new order, both TXT values in one Route53 change, a look at the
DNS server every 100 ms until it serves them, both challenges accepted at once, the order polled
every 100 ms, finalize, download (` + "`SECURESITE_BENCH_FLOOR=0`" + ` skips it; ` + "`TestPebbleFloor`" + ` measures
it alone) — with the ratio of the controller's all-Ready time to it (target ≤ 2, met only when
every site is Ready), and a **single site's apply → Ready** on an idle controller, median of 5 one after the other (target ≤ 3 s);
` + "`TestSingleSite`" + ` splits that time into steps read from the manager's log. The **idle** sections
(` + "`TestIdleSteadyState`" + `) leave N Ready sites alone, with no annotation pokes, and count what the
steady state costs in Route53 calls, then time how long hand edits of owned records take to be
undone; ListResourceRecordSets pages at 300 record sets as on AWS (on kumo, through the test world's proxy). The CA rate-limit
scheduling run is the controller test ` + "`TestRateLimitsScheduled`" + ` (small budgets by flag, a proxy
answering rateLimited with a Retry-After); its figures are quoted near the end of this file, with
the sharding run (` + "`TestTwoShardsSplitTheSites`" + `).

The test world builds pebble with one change to its authorization handler (` + "`hack/build-world.sh`" + `,
` + "`PEBBLE_PATCH`" + ` in ` + "`hack/versions.env`" + `): pebble v2.10.1 held an authorization's write lock while
looking the account up under its store's read lock, while a new order held the store's read lock
and read-locked every authorization; once a writer queued for the store, pebble stopped answering.
It locked up in over half of the 1,000-order runs (in the floor client as well as under the
controller); runs before 2026-12-01 02:15 UTC used the unchanged pebble. The convergence sections
also count the Kubernetes API requests made while converging (the API server's own
` + "`apiserver_request_total`" + `; they include the benchmark's creates and its list every 2 s).
` + "`SECURESITE_BENCH_CPUPROFILE=FILE`" + ` and ` + "`SECURESITE_BENCH_APISERVER_CPUPROFILE=FILE`" + ` write CPU
profiles of the manager (30 s) and of the API server (25 s) from the start of convergence.
`

var sectionStart = regexp.MustCompile(`(?m)^<!-- bench (.+?) -->\n`)

// writeDoc replaces the section for r.n in docs/benchmarks.md (keeping other N's sections) and
// returns the file's path.
func writeDoc(r *report) (string, error) {
	path := filepath.Join(testworld.ProjectRoot(), "docs", "benchmarks.md")
	sections := map[string]string{}
	if old, err := os.ReadFile(path); err == nil {
		text := string(old)
		locs := sectionStart.FindAllStringSubmatchIndex(text, -1)
		for i, loc := range locs {
			n := text[loc[2]:loc[3]]
			end := len(text)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			sections[n] = strings.TrimSpace(text[loc[1]:end])
		}
	} else if !os.IsNotExist(err) {
		return "", err
	}
	key := r.key
	if key == "" {
		key = fmt.Sprintf("N=%d", r.n)
	}
	sections[key] = strings.TrimSpace(r.section())
	var b strings.Builder
	b.WriteString(docHeader)
	for _, k := range slices.SortedFunc(maps.Keys(sections), compareSections) {
		fmt.Fprintf(&b, "\n<!-- bench %s -->\n%s\n", k, sections[k])
	}
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

func cpuModel() string {
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		return v
	}
	return runtime.GOARCH
}

func memTotal() string {
	kb, err := strconv.ParseInt(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 10, 64)
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// ops formats calls by operation, largest first: "ChangeResourceRecordSets 40, ListResourceRecordSets 3".
func ops(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %g", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// compareSections puts the convergence runs first by N, then the other benchmarks by name.
func compareSections(a, b string) int {
	na, errA := strconv.Atoi(strings.TrimPrefix(a, "N="))
	nb, errB := strconv.Atoi(strings.TrimPrefix(b, "N="))
	switch {
	case errA == nil && errB == nil:
		return na - nb
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}
