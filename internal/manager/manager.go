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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/records"
	"github.com/securesite-io/securesite/internal/s3bucket"
	"github.com/securesite-io/securesite/internal/smexport"
	"github.com/securesite-io/securesite/internal/tenancy"
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

	// Sharing a cluster (and an AWS account).
	Tenancy TenancyOptions

	// Test knobs; zero values are what production runs.
	Clock               clock.PassiveClock // default real time
	Route53             records.Options    // snapshot TTL, batch window
	PropagationTimeout  time.Duration      // DNS-01 wait; default acme's
	PropagationInterval time.Duration
	ACMELogger          *slog.Logger // default: the controller's logger
	SkipNameValidation  bool         // a second manager in one process (restart tests)
}

// TenancyOptions are the controller-wide limits and ownership settings.
type TenancyOptions struct {
	// OwnerID goes into every ownership record and owner tag. Empty: the UID of the cluster's
	// kube-system namespace (stable for the cluster's life, and not a secret).
	OwnerID string
	// NameHold keeps a released name claimed by its last owner (default 1h; negative: none).
	NameHold time.Duration
	// DomainFilter, ZoneIDFilter and ReservedNames: see tenancy.Fences.
	DomainFilter, ZoneIDFilter, ReservedNames []string
}

// DefaultNameHold is --name-hold's default.
const DefaultNameHold = time.Hour

// ownerID returns the configured owner id, else the kube-system namespace's UID.
func ownerID(ctx context.Context, r client.Reader, configured string) (string, error) {
	id := configured
	if id == "" {
		ns := &metav1.PartialObjectMetadata{}
		ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		if err := r.Get(ctx, types.NamespacedName{Name: metav1.NamespaceSystem}, ns); err != nil {
			return "", fmt.Errorf("reading the kube-system namespace for the default --owner-id (set --owner-id to skip): %w", err)
		}
		id = string(ns.UID)
	}
	if p := naming.OwnerIDProblem(id); p != "" {
		return "", fmt.Errorf("--owner-id: %s", p)
	}
	return id, nil
}

// Manager is the wired controller. Pool is exposed for tests that look at orders in flight.
type Manager struct {
	ctrl.Manager
	Pool *acme.Pool
	// OwnerID is the owner id in use (configured, or the kube-system namespace's UID).
	OwnerID string
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
	managed := labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.LabelManagedByValue})
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        "securesite.io",
		LeaderElectionNamespace: o.Namespace,
		// Only the metadata of Secrets we labelled is cached: clusters hold thousands of unrelated
		// Secrets, and anyone who may label a Secret could otherwise make the controller hold its
		// data. The Secrets the controller owns are read from the API server when needed. A read
		// of a type no watch caches fails instead of starting a cluster-wide informer.
		Cache: cache.Options{
			ByObject:                    map[client.Object]cache.ByObject{&corev1.Secret{}: {Label: managed}},
			ReaderFailOnMissingInformer: true,
		},
		Controller: config.Controller{SkipNameValidation: ptr.To(o.SkipNameValidation)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	awsCfg, err := awsclient.Load(ctx, o.AWS)
	if err != nil {
		return nil, err
	}
	region := o.Region
	if region == "" {
		region = awsCfg.AWS.Region
	}
	now := time.Now
	if o.Clock != nil {
		now = o.Clock.Now
	}
	logger := o.ACMELogger
	if logger == nil {
		logger = slog.New(logr.ToSlogHandler(ctrl.Log.WithName("acme")))
	}

	// ACME account keys are read straight from the API server: the cache holds Secret metadata only.
	direct, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return nil, err
	}
	owner, err := ownerID(ctx, mgr.GetAPIReader(), o.Tenancy.OwnerID)
	if err != nil {
		return nil, err
	}
	r53opts := o.Route53
	switch {
	case o.Tenancy.NameHold > 0:
		r53opts.NameHold = o.Tenancy.NameHold
	case o.Tenancy.NameHold == 0:
		r53opts.NameHold = DefaultNameHold
	}
	if r53opts.HoldNow == nil {
		r53opts.HoldNow = now
	}
	dns := records.New(awsCfg.AWS, r53opts)
	wake := make(chan event.GenericEvent, 1024)
	pool := acme.NewPool(acme.Options{
		Workers:                  o.IssuanceWorkers,
		CABundle:                 o.ACMECABundle,
		Nameservers:              o.DNS01Nameservers,
		SkipAuthoritativeNSCheck: o.DNS01SkipAuthoritative,
		PropagationTimeout:       o.PropagationTimeout,
		PollInterval:             o.PropagationInterval,
		Accounts:                 acme.NewSecretAccountStore(direct, o.Namespace),
		DNS:                      controllers.NewChallengeDNS(dns, owner),
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
	if err := mgr.Add(pool); err != nil {
		return nil, err
	}
	r := &controllers.SecureSiteReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Recorder:      mgr.GetEventRecorder("securesite-controller"),
		Clock:         o.Clock,
		Defaults:      controllers.Defaults{ACMEServer: o.ACMEServer, ACMEEmail: o.ACMEEmail, Region: region},
		DNS:           dns,
		Issuer:        pool,
		ACM:           acmimport.New(awsCfg.AWS),
		Buckets:       s3bucket.New(awsCfg),
		Distributions: cdn.New(awsCfg.AWS),
		Exporter:      smexport.New(awsCfg),
		Tenancy: controllers.Tenancy{OwnerID: owner, Fences: tenancy.Fences{
			DomainFilter: o.Tenancy.DomainFilter, ZoneIDFilter: o.Tenancy.ZoneIDFilter, ReservedNames: o.Tenancy.ReservedNames}},
		ResyncPeriod:            o.ResyncPeriod,
		Wake:                    wake,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return &Manager{Manager: mgr, Pool: pool, OwnerID: owner}, nil
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
