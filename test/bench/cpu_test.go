package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/securesite-io/securesite/internal/testworld"
)

// machineCPU is the machine's CPU time so far from /proc/stat: busy (everything but idle and
// iowait) and total, in clock ticks.
type machineCPU struct{ busy, total int64 }

func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var c machineCPU
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		c.total += v
		if i != 3 && i != 4 { // idle, iowait
			c.busy += v
		}
	}
	return c
}

// busyShare is the share of the machine's CPU time that was busy between two readings.
func busyShare(before, after machineCPU) float64 {
	if after.total == before.total {
		return 0
	}
	return float64(after.busy-before.busy) / float64(after.total-before.total)
}

// cpuProfile fetches a CPU profile of the manager over d into the file named by
// SECURESITE_BENCH_CPUPROFILE, when that is set and the manager serves pprof; it runs in the
// background and the returned function waits for it.
func cpuProfile(t *testing.T, m *manager, d time.Duration) func() {
	path := os.Getenv("SECURESITE_BENCH_CPUPROFILE")
	if path == "" || m.pprofAddr == "" {
		return func() {}
	}
	return saveProfile(t, http.DefaultClient, fmt.Sprintf("http://%s", m.pprofAddr), "the manager", path, d)
}

// apiServerProfile writes a CPU profile of the world's API server over d, from now on, to
// $SECURESITE_BENCH_APISERVER_CPUPROFILE when that is set (the API server serves pprof to its
// admin user); the returned func waits for it.
func apiServerProfile(t *testing.T, w *testworld.World, d time.Duration) func() {
	path := os.Getenv("SECURESITE_BENCH_APISERVER_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	hc, err := rest.HTTPClientFor(w.RESTConfig)
	if err != nil {
		t.Logf("API server CPU profile: %v", err)
		return func() {}
	}
	return saveProfile(t, hc, strings.TrimSuffix(w.RESTConfig.Host, "/"), "the API server", path, d)
}

// saveProfile fetches base's /debug/pprof/profile over d into path in the background; the
// returned func waits for it. A failure is logged, not fatal: the profile is an extra.
func saveProfile(t *testing.T, hc *http.Client, base, what, path string, d time.Duration) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := hc.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(d.Seconds())))
		if err != nil {
			t.Logf("CPU profile of %s: %v", what, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			t.Logf("CPU profile of %s: %v", what, err)
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, resp.Body); err != nil {
			t.Logf("CPU profile of %s: %v", what, err)
		}
		t.Logf("CPU profile of %s over %s written to %s", what, d, path)
	}()
	return func() { <-done }
}
