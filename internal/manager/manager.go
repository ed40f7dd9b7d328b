// Package manager wires the SecureSite controller: the controller-runtime manager (cache of our
// own Secrets only, metrics, probes, leader election), the SDK-backed services sharing one AWS
// configuration, the ACME issuance pool and the reconciler. main.go and the tests that run the
// controller in-process build it here, so the tests exercise the wiring users run.
package manager

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
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
	// LeaderElectionID names the lease; default "securesite.io", or one per shard when
	// WatchLabelSelector is set, so every shard elects its own leader.
	LeaderElectionID string
	// WatchLabelSelector restricts the controller to SecureSites matching it (sharding: several
	// Deployments with disjoint selectors split the sites between them). Empty: all.
	WatchLabelSelector string
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
	// ACMELimits override the CA's budgets (zero fields: Let's Encrypt's published limits for its
	// production and staging URLs, none for other CAs).
	ACMELimits acme.Limits

	MaxConcurrentReconciles int
	ResyncPeriod            time.Duration
	// DriftCheckInterval is how often each zone holding owned records is listed and compared with
	// what every site wants; 0 means DefaultDriftCheckInterval, negative turns the check off.
	DriftCheckInterval time.Duration

	// Test knobs; zero values are what production runs.
	Clock               clock.PassiveClock // default real time
	Route53             records.Options    // snapshot TTL, batch window
	PropagationTimeout  time.Duration      // DNS-01 wait; default acme's
	PropagationInterval time.Duration
	ACMELogger          *slog.Logger // default: the controller's logger
	SkipNameValidation  bool         // a second manager in one process (restart tests)
}

// DefaultDriftCheckInterval is how often owned records are compared with their zones: a hand
// edit is undone within about this long (external-dns's default loop is a minute too).
const DefaultDriftCheckInterval = time.Minute

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
	driftInterval := o.DriftCheckInterval
	if driftInterval == 0 {
		driftInterval = DefaultDriftCheckInterval
	}
	dns := records.New(awsCfg.AWS, recordsOptions(o.Route53, driftInterval))
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
	if driftInterval > 0 {
		if err := addDriftCheck(mgr, r, dns, driftInterval); err != nil {
			return nil, err
		}
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up controller: %w", err)
	}
	return &Manager{Manager: mgr, Pool: pool}, nil
}

// recordsOptions: the drift check lists every zone with owned records each interval; reconciles
// in between trust that listing instead of each reading the zone again. Writes made in between
// are in the snapshot already (the service applies its own writes), and anyone else's are what
// the next check finds.
func recordsOptions(o records.Options, driftInterval time.Duration) records.Options {
	if driftInterval > 0 && o.SnapshotTTL == 0 {
		o.SnapshotTTL = driftInterval + 30*time.Second
	}
	return o
}

// addDriftCheck runs the zone-level drift check, which wakes the sites whose records drifted.
func addDriftCheck(mgr ctrl.Manager, r *controllers.SecureSiteReconciler, dns *records.Service, interval time.Duration) error {
	index := records.NewDesiredIndex()
	drifted := make(chan event.GenericEvent, 1024)
	r.DesiredRecords, r.Drifted = index, drifted
	driftLog := ctrl.Log.WithName("drift-check")
	return mgr.Add(&records.DriftCheck{
		DNS: dns, Index: index, Interval: interval,
		Drifted: controllers.DriftedSites(drifted),
		Failed: func(z records.Zone, err error) {
			driftLog.Error(err, "reading hosted zone for the drift check", "zone", z.Name, "zoneID", z.ID)
		},
	})
}

// newControllerManager is controller-runtime's manager: a cache of our own Secrets only,
// metrics, probes and leader election.
func newControllerManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	managed := labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.LabelManagedByValue})
	// Only Secrets we labelled are cached: clusters hold thousands of unrelated Secrets, and
	// caching them would cost memory for nothing.
	byObject := map[client.Object]cache.ByObject{&corev1.Secret{}: {Label: managed}}
	shard, err := ShardSelector(o.WatchLabelSelector)
	if err != nil {
		return nil, err
	}
	if shard != nil {
		byObject[&v1alpha1.SecureSite{}] = cache.ByObject{Label: shard}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        LeaderElectionID(o.LeaderElectionID, o.WatchLabelSelector),
		LeaderElectionNamespace: o.Namespace,
		Cache: cache.Options{
			ByObject: byObject,
			// managedFields are for server-side apply bookkeeping; the controller never reads
			// them, and they are a large share of every cached object.
			DefaultTransform: cache.TransformStripManagedFields(),
		},
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
		Limits:                   o.ACMELimits,
		Ledger: acme.NewSecretLedgerStore(mgr.GetClient(), mgr.GetAPIReader(), o.Namespace, func() time.Time {
			return now().Add(-acme.LedgerKeep(o.ACMELimits))
		}),
		DNS:    controllers.NewChallengeDNS(dns),
		Logger: logger,
		Now:    now,
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

// ShardSelector parses --watch-label-selector (nil when empty).
func ShardSelector(s string) (labels.Selector, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("--watch-label-selector %q: %w", s, err)
	}
	return sel, nil
}

// LeaderElectionID is the lease name: the given one, else "securesite.io" for an unsharded
// controller and "securesite.io-shard-<hash of the selector>" for a shard, so that shards do
// not wait on each other's leader while replicas of one shard still elect one.
func LeaderElectionID(id, selector string) string {
	if id != "" {
		return id
	}
	sel, err := ShardSelector(selector)
	if err != nil || sel == nil {
		return "securesite.io"
	}
	sum := sha256.Sum256([]byte(sel.String()))
	return "securesite.io-shard-" + hex.EncodeToString(sum[:])[:10]
}
