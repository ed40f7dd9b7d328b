// Package manager wires the SecureSite controller: the controller-runtime manager (cache of our
// own Secrets only, metrics, probes, leader election), the SDK-backed services sharing one AWS
// configuration, the ACME issuance pool and the reconciler. main.go and the tests that run the
// controller in-process build it here, so the tests exercise the wiring users run.
package manager

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/controllers"
	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/acmimport"
	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/cdn"
	"github.com/securesite-io/securesite/internal/records"
	"github.com/securesite-io/securesite/internal/s3bucket"
	"github.com/securesite-io/securesite/internal/smexport"
)

// Options are the manager's settings: main.go's flags, plus a few knobs tests turn.
type Options struct {
	MetricsAddr   string // "0" disables
	SecureMetrics bool
	ProbeAddr     string // "0" disables
	LeaderElect   bool
	// Namespace is the controller's own: ACME account Secrets and the leader lease live here.
	Namespace string

	// AWS configures the SDK (region, endpoint override, credentials, retries).
	AWS awsclient.Options
	// Region is the default bucket region (AWS.Region when empty).
	Region string

	ACMEServer, ACMEEmail  string
	ACMECABundle           []byte   // PEM to trust for the ACME server; nil = system roots
	DNS01Nameservers       []string // host:port resolvers for the propagation check
	DNS01SkipAuthoritative bool
	IssuanceWorkers        int

	MaxConcurrentReconciles int
	ResyncPeriod            time.Duration

	// Test knobs; zero values are what production runs.
	Clock               clock.PassiveClock // default real time
	Route53             records.Options    // snapshot TTL, batch window
	PropagationTimeout  time.Duration      // DNS-01 wait; default acme's
	PropagationInterval time.Duration
	ACMELogger          *slog.Logger // default: the controller's logger
	SkipNameValidation  bool         // a second manager in one process (restart tests)
}

// Manager is the wired controller. Pool is exposed for tests that look at orders in flight.
type Manager struct {
	ctrl.Manager
	Pool *acme.Pool
}

// Scheme holds the types the controller reads and writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}

// New builds the manager with the controller registered; Start runs it.
func New(ctx context.Context, cfg *rest.Config, o Options) (*Manager, error) {
	mgr, err := newControllerManager(cfg, o)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsclient.Load(ctx, o.AWS)
	if err != nil {
		return nil, err
	}
	dns := records.New(awsCfg.AWS, o.Route53)
	wake := make(chan event.GenericEvent, 1024)
	pool := newIssuancePool(mgr, o, dns, wake)
	if err := mgr.Add(pool); err != nil {
		return nil, err
	}
	region := o.Region
	if region == "" {
		region = awsCfg.AWS.Region
	}
	r := &controllers.SecureSiteReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("securesite-controller"),
		Clock:                   o.Clock,
		Defaults:                controllers.Defaults{ACMEServer: o.ACMEServer, ACMEEmail: o.ACMEEmail, Region: region},
		DNS:                     dns,
		Issuer:                  pool,
		ACM:                     acmimport.New(awsCfg.AWS),
		Buckets:                 s3bucket.New(awsCfg),
		Distributions:           cdn.New(awsCfg.AWS),
		Exporter:                smexport.New(awsCfg),
		ResyncPeriod:            o.ResyncPeriod,
		Wake:                    wake,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up controller: %w", err)
	}
	return &Manager{Manager: mgr, Pool: pool}, nil
}

// newControllerManager is controller-runtime's manager: a cache of our own Secrets only,
// metrics, probes and leader election.
func newControllerManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	managed := labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.LabelManagedByValue})
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        "securesite.io",
		LeaderElectionNamespace: o.Namespace,
		// Only Secrets we labelled are cached: clusters hold thousands of unrelated Secrets, and
		// caching them would cost memory for nothing.
		Cache:      cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Secret{}: {Label: managed}}},
		Controller: config.Controller{SkipNameValidation: ptr.To(o.SkipNameValidation)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// newIssuancePool is the bounded pool of ACME issuance workers; a finished order wakes its site
// through wake.
func newIssuancePool(mgr ctrl.Manager, o Options, dns *records.Service, wake chan<- event.GenericEvent) *acme.Pool {
	now := time.Now
	if o.Clock != nil {
		now = o.Clock.Now
	}
	logger := o.ACMELogger
	if logger == nil {
		logger = slog.New(logr.ToSlogHandler(ctrl.Log.WithName("acme")))
	}
	return acme.NewPool(acme.Options{
		Workers:                  o.IssuanceWorkers,
		CABundle:                 o.ACMECABundle,
		Nameservers:              o.DNS01Nameservers,
		SkipAuthoritativeNSCheck: o.DNS01SkipAuthoritative,
		PropagationTimeout:       o.PropagationTimeout,
		PollInterval:             o.PropagationInterval,
		Accounts:                 acme.NewSecretAccountStore(mgr.GetClient(), o.Namespace),
		DNS:                      controllers.NewChallengeDNS(dns),
		Logger:                   logger,
		Now:                      now,
		Notify: func(site types.NamespacedName) {
			obj := &v1alpha1.SecureSite{}
			obj.Namespace, obj.Name = site.Namespace, site.Name
			select {
			case wake <- event.GenericEvent{Object: obj}:
			default:
				// The channel is full: the reconciler re-checks issuing sites every minute anyway.
			}
		},
	})
}

// metricsOptions serves metrics over HTTPS with TokenReview/SubjectAccessReview authorization when
// SecureMetrics is set (the install does), plain HTTP otherwise (local runs, the test world).
func metricsOptions(o Options) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsAddr, SecureServing: o.SecureMetrics}
	if o.SecureMetrics {
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
		// HTTP/2 is off: CVE-2023-44487 (rapid reset) and CVE-2023-39325.
		m.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	return m
}
