package manager

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/securesite-io/securesite/internal/testworld"
)

// slowCollector counts its collections and holds each until released, as a gather of 10,000
// sites' series takes a while.
type slowCollector struct {
	desc    *prometheus.Desc
	calls   atomic.Int32
	release chan struct{}
}

func (c *slowCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *slowCollector) Collect(ch chan<- prometheus.Metric) {
	c.calls.Add(1)
	<-c.release
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1)
}

// Scrapes that arrive while another gathers share its result: a gather holds every site's
// series at once, and two Prometheus replicas scraping the same manager must not hold them twice.
func TestConcurrentScrapesShareOneGather(t *testing.T) {
	c := &slowCollector{desc: prometheus.NewDesc("securesite_test_slow_collection", "A test collector.", nil, nil), release: make(chan struct{})}
	ctrlmetrics.Registry.MustRegister(c)
	t.Cleanup(func() { ctrlmetrics.Registry.Unregister(c) })
	port, err := testworld.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	srv, err := metricsserver.NewServer(metricsOptions(Options{MetricsAddr: addr}), nil, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Start(ctx) }()

	const scrapers = 4
	var wg sync.WaitGroup
	for range scrapers {
		wg.Go(func() {
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				resp, err := http.Get("http://" + addr + "/metrics")
				if err != nil {
					continue // not listening yet
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return
			}
			t.Error("metrics endpoint not answering")
		})
	}
	// All four are waiting on the first gather before it ends.
	for deadline := time.Now().Add(10 * time.Second); c.calls.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	close(c.release)
	wg.Wait()
	if n := c.calls.Load(); n != 1 {
		t.Errorf("%d scrapes arriving during one gather ran %d gathers, want 1", scrapers, n)
	}
}
