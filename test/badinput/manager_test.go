package badinput

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/controllers"
	"github.com/securesite-io/securesite/internal/acm"
	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/cloudfront"
	r53layer "github.com/securesite-io/securesite/internal/route53"
	"github.com/securesite-io/securesite/internal/s3bucket"
	"github.com/securesite-io/securesite/internal/smexport"
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

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	return s
}

func startManager(t *testing.T, w *testworld.World, scheme *runtime.Scheme) *manager {
	t.Helper()
	m := &manager{log: &syncBuffer{}, exited: make(chan struct{})}
	ctrl.SetLogger(zap.New(zap.WriteTo(m.log), zap.UseDevMode(true)))
	caBundle, err := os.ReadFile(w.Pebble.CABundlePath)
	if err != nil {
		t.Fatal(err)
	}
	managed := labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.LabelManagedByValue})
	mgr, err := ctrl.NewManager(w.RESTConfig, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Secret{}: {Label: managed}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	awsCfg := w.AWSConfig(context.Background())
	dns := r53layer.New(awsCfg.AWS, r53layer.Options{SnapshotTTL: time.Second})
	wake := make(chan event.GenericEvent, 1024)
	pool := acme.NewPool(acme.Options{
		Workers:                  4,
		CABundle:                 caBundle,
		Nameservers:              []string{w.DNS.Addr()},
		SkipAuthoritativeNSCheck: true,
		PropagationTimeout:       30 * time.Second,
		PollInterval:             200 * time.Millisecond,
		Accounts:                 acme.NewSecretAccountStore(mgr.GetClient(), controllerNamespace),
		DNS:                      controllers.NewChallengeDNS(dns),
		Now:                      time.Now,
		Logger:                   slog.New(slog.NewTextHandler(m.log, nil)),
		Notify: func(site types.NamespacedName) {
			obj := &v1alpha1.SecureSite{}
			obj.Namespace, obj.Name = site.Namespace, site.Name
			wake <- event.GenericEvent{Object: obj}
		},
	})
	if err := mgr.Add(pool); err != nil {
		t.Fatal(err)
	}
	r := &controllers.SecureSiteReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Recorder:      mgr.GetEventRecorder("securesite-controller"),
		Defaults:      controllers.Defaults{ACMEServer: w.Pebble.DirectoryURL, ACMEEmail: "ops@example.test", Region: "us-east-1"},
		DNS:           dns,
		Issuer:        pool,
		ACM:           acm.New(awsCfg.AWS),
		Buckets:       s3bucket.New(awsCfg),
		Distributions: controllers.CloudFront{Client: cloudfront.New(awsCfg.AWS)},
		Exporter:      smexport.New(awsCfg),
		ResyncPeriod:  time.Minute,
		Wake:          wake,

		MaxConcurrentReconciles: 8,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
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
