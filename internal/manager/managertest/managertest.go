// Package managertest runs the controller inside a test process with main.go's wiring
// (internal/manager), pointed at a test world. The controller, fault and bad-input suites share
// it, so a new manager option reaches every in-process test from one place.
package managertest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/securesite-io/securesite/internal/manager"
	"github.com/securesite-io/securesite/internal/records"
	"github.com/securesite-io/securesite/internal/testworld"
)

// ControllerNamespace is the controller's own namespace in the tests (ACME account Secrets).
const ControllerNamespace = "securesite-system"

// Options are the manager options for the test world: AWS on the test world's emulator, ACME on pebble (its CA
// trusted), the DNS-01 propagation check asking the world's DNS server, fast propagation polling
// and a 1 s Route53 snapshot so drift tests need not wait 30 s. No metrics or probe listeners.
// Callers change what their suite needs (clock, workers, AWS endpoint) on the returned value.
func Options(t testing.TB, w *testworld.World) manager.Options {
	t.Helper()
	caBundle, err := os.ReadFile(w.Pebble.CABundlePath)
	if err != nil {
		t.Fatal(err)
	}
	return manager.Options{
		MetricsAddr:             "0",
		ProbeAddr:               "0",
		Namespace:               ControllerNamespace,
		AWS:                     testworld.AWSOptions(w.AWS.URL),
		ACMEServer:              w.Pebble.DirectoryURL,
		ACMEEmail:               "ops@example.test",
		ACMECABundle:            caBundle,
		DNS01Nameservers:        []string{w.DNS.Addr()},
		DNS01SkipAuthoritative:  true,
		IssuanceWorkers:         8,
		MaxConcurrentReconciles: 8,
		ResyncPeriod:            time.Minute,
		Route53:                 records.Options{SnapshotTTL: time.Second},
		PropagationTimeout:      30 * time.Second,
		PropagationInterval:     200 * time.Millisecond,
		ACMELogger:              slog.New(slog.NewTextHandler(testworld.ControllerLogWriter(), nil)),
		// A restarted manager registers the same controller name again in this process.
		SkipNameValidation: true,
	}
}

// Running is a manager started by Start.
type Running struct {
	*manager.Manager
	cancel  context.CancelFunc
	stopped chan struct{}
}

// Start builds the manager and runs it until Stop or the end of the test; it returns once the
// cache has synced.
func Start(t testing.TB, cfg *rest.Config, o manager.Options) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := manager.New(ctx, cfg, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &Running{Manager: mgr, cancel: cancel, stopped: make(chan struct{})}
	go func() {
		defer close(r.stopped)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(r.Stop)
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	return r
}

// Stop stops the manager and waits until it has; calling it again does nothing.
func (r *Running) Stop() {
	r.cancel()
	<-r.stopped
}

// Stopped is closed when the manager has stopped (also when it stopped on its own).
func (r *Running) Stopped() <-chan struct{} { return r.stopped }
