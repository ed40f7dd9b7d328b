package badinput

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	controllermanager "github.com/securesite-io/securesite/internal/manager"
	"github.com/securesite-io/securesite/internal/records"
	"github.com/securesite-io/securesite/internal/testworld"
)

// The wiring below follows controllers/suite_test.go startManager (package controllers_test, so
// not importable), minus restarts and the movable clock: this test needs real time only.

const controllerNamespace = "securesite-system"

// syncBuffer is the manager's log, kept in memory so the secrets-hygiene check can read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// manager is the reconciler running in-process; exited closes if it stops on its own.
type manager struct {
	log    *syncBuffer
	exited chan struct{}
}

func newScheme() *runtime.Scheme { return controllermanager.Scheme() }

// startManager runs the controller in-process with main.go's wiring, its log kept in memory so the
// secrets-hygiene check can read it.
func startManager(t *testing.T, w *testworld.World) *manager {
	t.Helper()
	m := &manager{log: &syncBuffer{}, exited: make(chan struct{})}
	ctrl.SetLogger(zap.New(zap.WriteTo(m.log), zap.UseDevMode(true)))
	caBundle, err := os.ReadFile(w.Pebble.CABundlePath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := controllermanager.New(ctx, w.RESTConfig, controllermanager.Options{
		MetricsAddr:             "0",
		ProbeAddr:               "0",
		Namespace:               controllerNamespace,
		AWS:                     testworld.KumoOptions(w.Kumo.URL),
		ACMEServer:              w.Pebble.DirectoryURL,
		ACMEEmail:               "ops@example.test",
		ACMECABundle:            caBundle,
		DNS01Nameservers:        []string{w.DNS.Addr()},
		DNS01SkipAuthoritative:  true,
		IssuanceWorkers:         4,
		MaxConcurrentReconciles: 8,
		ResyncPeriod:            time.Minute,
		Route53:                 records.Options{SnapshotTTL: time.Second},
		PropagationTimeout:      30 * time.Second,
		PropagationInterval:     200 * time.Millisecond,
		ACMELogger:              slog.New(slog.NewTextHandler(m.log, nil)),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		defer close(m.exited)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-m.exited
	})
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	return m
}

// running reports whether the manager is still up (it never stops on its own in a healthy run).
func (m *manager) running() bool {
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}
