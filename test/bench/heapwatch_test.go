package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// heapWatch samples the manager's Go heap (the MemStats trailer of /debug/pprof/heap?debug=1) and
// its resident set every few seconds for the whole run, so a peak shows against the benchmark's
// phases rather than only as VmHWM at the end. It keeps the heap profile taken at the highest
// HeapInuse and the one taken at the highest before it: their alloc_space difference is what was
// allocated in between. (Each sample is one heap profile in text form, a few MB of garbage in the
// manager every 2 s.)
type heapWatch struct {
	port  int
	pid   int
	dir   string
	every time.Duration
	start time.Time

	mu      sync.Mutex
	lines   []string // the timeline: samples and phase marks
	phase   string
	peak    heapSample
	before  []byte // the profile at the highest HeapInuse so far
	stop    chan struct{}
	stopped chan struct{}
}

type heapSample struct {
	at                                 time.Duration
	phase                              string
	heapInuse, heapAlloc, nextGC, sys  int64
	rss                                int64
	heapReleased, heapIdle, numGCCount int64
}

func startHeapWatch(port, pid int, dir string, every time.Duration) *heapWatch {
	h := &heapWatch{port: port, pid: pid, dir: dir, every: every, start: time.Now(), phase: "start",
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go h.run()
	return h
}

// mark starts a phase of the benchmark: later samples carry its name.
func (h *heapWatch) mark(phase string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.phase = phase
	h.lines = append(h.lines, fmt.Sprintf("%7.1fs  --- %s", time.Since(h.start).Seconds(), phase))
}

func (h *heapWatch) run() {
	defer close(h.stopped)
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.sampleOnce()
		}
	}
}

func (h *heapWatch) sampleOnce() {
	stats, err := h.memStats()
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := heapSample{at: time.Since(h.start), phase: h.phase, heapInuse: stats["HeapInuse"], heapAlloc: stats["HeapAlloc"],
		nextGC: stats["NextGC"], sys: stats["Sys"], rss: procKB(h.pid, "VmRSS") << 10,
		heapReleased: stats["HeapReleased"], heapIdle: stats["HeapIdle"], numGCCount: stats["NumGC"]}
	h.lines = append(h.lines, fmt.Sprintf("%7.1fs  inuse %s  alloc %s  nextGC %s  sys %s  released %s  rss %s  gc %d",
		s.at.Seconds(), mib(s.heapInuse), mib(s.heapAlloc), mib(s.nextGC), mib(s.sys), mib(s.heapReleased), mib(s.rss), s.numGCCount))
	if s.heapInuse <= h.peak.heapInuse {
		return
	}
	// A new highest: its profile, and the one of the highest before it (reading a profile every
	// sample would add its own allocations to what is measured).
	prof, err := h.get("/debug/pprof/heap")
	if err != nil {
		return
	}
	h.peak = s
	if h.before != nil {
		_ = os.WriteFile(filepath.Join(h.dir, "heap-before-peak.pprof"), h.before, 0o644)
	}
	_ = os.WriteFile(filepath.Join(h.dir, "heap-peak.pprof"), prof, 0o644)
	h.before = prof
}

// finish stops sampling and logs the timeline and the peak.
func (h *heapWatch) finish(t *testing.T) heapSample {
	t.Helper()
	close(h.stop)
	<-h.stopped
	h.mu.Lock()
	defer h.mu.Unlock()
	_ = os.WriteFile(filepath.Join(h.dir, "heap-timeline.txt"), []byte(strings.Join(h.lines, "\n")+"\n"), 0o644)
	t.Logf("manager heap timeline (every %s; also %s):\n%s", h.every, filepath.Join(h.dir, "heap-timeline.txt"), strings.Join(h.lines, "\n"))
	t.Logf("highest HeapInuse %s at %.0fs (%s); profiles heap-peak.pprof and heap-before-peak.pprof in %s",
		mib(h.peak.heapInuse), h.peak.at.Seconds(), h.peak.phase, h.dir)
	return h.peak
}

func (h *heapWatch) get(path string) ([]byte, error) {
	return pprofGet(h.port, path)
}

// pprofGet reads one of the manager's profiler pages (path from /debug/pprof/ on).
func pprofGet(port int, path string) ([]byte, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func (h *heapWatch) memStats() (map[string]int64, error) {
	body, err := h.get("/debug/pprof/heap?debug=1")
	if err != nil {
		return nil, err
	}
	return parseMemStats(body), nil
}

// parseMemStats reads the "# Name = value" lines of the MemStats trailer.
func parseMemStats(body []byte) map[string]int64 {
	stats := map[string]int64{}
	for _, l := range strings.Split(string(body), "\n") {
		var k string
		var v int64
		if n, _ := fmt.Sscanf(l, "# %s = %d", &k, &v); n == 2 {
			stats[k] = v
		}
	}
	return stats
}

// procKB reads a "Key: N kB" line of /proc/<pid>/status.
func procKB(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			var n int64
			_, _ = fmt.Sscanf(strings.TrimSpace(v), "%d", &n)
			return n
		}
	}
	return 0
}
