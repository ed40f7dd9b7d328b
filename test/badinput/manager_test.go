package badinput

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	controllermanager "github.com/securesite-io/securesite/internal/manager"
	"github.com/securesite-io/securesite/internal/manager/managertest"
	"github.com/securesite-io/securesite/internal/testworld"
)

const controllerNamespace = managertest.ControllerNamespace

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

// manager is the reconciler running in-process, its log kept for the secrets-hygiene check.
type manager struct {
	log *syncBuffer
	*managertest.Running
}

func newScheme() *runtime.Scheme { return controllermanager.Scheme() }

// startManager runs the controller in-process with main.go's wiring, its log kept in memory so the
// secrets-hygiene check can read it.
func startManager(t *testing.T, w *testworld.World) *manager {
	t.Helper()
	m := &manager{log: &syncBuffer{}}
	ctrl.SetLogger(zap.New(zap.WriteTo(m.log), zap.UseDevMode(true)))
	o := managertest.Options(t, w)
	o.IssuanceWorkers = 4
	o.ACMELogger = slog.New(slog.NewTextHandler(m.log, nil))
	m.Running = managertest.Start(t, w.RESTConfig, o)
	return m
}

// running reports whether the manager is still up (it never stops on its own in a healthy run).
func (m *manager) running() bool {
	select {
	case <-m.Stopped():
		return false
	default:
		return true
	}
}
