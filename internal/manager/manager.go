// Package manager wires the SecureSite controller: the controller-runtime manager (a cache of
// what wakes each SecureSite and of which site each of our own Secrets wakes, metrics, probes, leader election), the
// SDK-backed services sharing one AWS configuration, the ACME issuance pool and the reconciler.
// main.go and the tests that run the controller in-process build it here, so the tests exercise
// the wiring users run.
package manager

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/controllers"
	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/acmimport"
	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/cdn"
	"github.com/securesite-io/securesite/internal/events"
	"github.com/securesite-io/securesite/internal/metricsauth"
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
	PprofAddr     string // net/http/pprof endpoint; "" or "0" disables
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

// DefaultDriftCheckInterval is how often owned records are compared with their zones: a hand
// edit is undone within about this long (external-dns's default loop is a minute too).
const DefaultDriftCheckInterval = time.Minute

// Manager is the wired controller. Pool is exposed for tests that look at orders in flight.
type Manager struct {
	ctrl.Manager
	Pool *acme.Pool
	// OwnerID is the owner id in use (configured, or the kube-system namespace's UID).
	OwnerID string
}

// registerOurTypes adds SecureSite's API group to client-go's scheme, once per process.
var registerOurTypes sync.Once

// Scheme holds the types the controller reads and writes: client-go's scheme of the built-in
// API groups with SecureSite's group added. controller-runtime links that scheme, and its package
// init fills it, whether or not the manager uses it; a scheme of our own with the same groups
// was a second copy of every registration (~0.7 MB held for the process's life). A scheme is
// safe for concurrent reads, and nothing registers into it after this.
func Scheme() *runtime.Scheme {
	registerOurTypes.Do(func() { utilruntime.Must(v1alpha1.AddToScheme(clientgoscheme.Scheme)) })
	return clientgoscheme.Scheme
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
	owner, err := ownerID(ctx, mgr.GetAPIReader(), o.Tenancy.OwnerID)
	if err != nil {
		return nil, err
	}
	dns := records.New(awsCfg.AWS, recordsOptions(o, driftInterval))
	wake := make(chan event.GenericEvent, 1024)
	pool, err := newIssuancePool(mgr, cfg, o, controllers.NewChallengeDNS(dns, owner), wake)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(pool); err != nil {
		return nil, err
	}
	recorder, err := newEventRecorder(mgr)
	if err != nil {
		return nil, err
	}
	region := o.Region
	if region == "" {
		region = awsCfg.AWS.Region
	}
	r := &controllers.SecureSiteReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Recorder:      recorder,
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
	if driftInterval > 0 {
		if err := addDriftCheck(mgr, r, dns, driftInterval); err != nil {
			return nil, err
		}
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up controller: %w", err)
	}
	return &Manager{Manager: mgr, Pool: pool, OwnerID: owner}, nil
}

// recordsOptions: the drift check lists every zone with owned records each interval; reconciles
// in between trust that listing instead of each reading the zone again. Writes made in between
// are in the snapshot already (the service applies its own writes), and anyone else's are what
// the next check finds.
// A released name stays held for its last owner for NameHold.
func recordsOptions(o Options, driftInterval time.Duration) records.Options {
	r := o.Route53
	switch {
	case o.Tenancy.NameHold > 0:
		r.NameHold = o.Tenancy.NameHold
	case o.Tenancy.NameHold == 0:
		r.NameHold = DefaultNameHold
	}
	if r.HoldNow == nil {
		r.HoldNow = nowFunc(o)
	}
	if driftInterval > 0 && r.SnapshotTTL == 0 {
		r.SnapshotTTL = driftInterval + 30*time.Second
	}
	return r
}

// nowFunc is the clock the pool and the records layer read (the test clock when set).
func nowFunc(o Options) func() time.Time {
	if o.Clock != nil {
		return o.Clock.Now
	}
	return time.Now
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

// newControllerManager is controller-runtime's manager: a cache of what wakes each SecureSite,
// of the key and site of each of our own Secrets, and of SecureSiteClasses, metrics, probes and leader election.
func newControllerManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	managed := labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.LabelManagedByValue})
	// Only Secrets we labelled are watched: clusters hold thousands of unrelated Secrets, and
	// caching them would cost memory for nothing. Of each, the cache keeps only what wakes its
	// site when it changes or goes (see secretWake).
	shard, err := ShardSelector(o.WatchLabelSelector)
	if err != nil {
		return nil, err
	}
	byObject := map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Label: managed, Transform: secretWakeFrom},
		// Keyed by kind, so the shard's selector and the transform apply to the metadata-only
		// informer of SecureSites too. Of each site the cache keeps only what wakes it (see
		// controllers.CachedSite).
		&v1alpha1.SecureSite{}: {Label: shard, Transform: controllers.CompactSite},
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.ProbeAddr,
		PprofBindAddress:        o.PprofAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        LeaderElectionID(o.LeaderElectionID, o.WatchLabelSelector),
		LeaderElectionNamespace: o.Namespace,
		// Only Secrets we labelled are watched (Owns with OnlyMetadata), and the cache keeps of
		// each its key and controlling site alone: clusters hold thousands of unrelated Secrets,
		// and anyone who may label a Secret could otherwise make the controller hold its data.
		// Each pass reads its site's Secret from the API server. SecureSites too are watched as
		// metadata only (For with OnlyMetadata), and the cache keeps of each its key, generation and
		// a digest of its annotations: a decoded site is about 2.6 KB, its metadata about 460
		// bytes in the store, and each pass reads its site from the API server anyway. A read of a type no watch caches
		// (a whole SecureSite, a whole Secret) fails instead of starting a cluster-wide informer.
		Cache: cache.Options{
			ByObject:                    byObject,
			ReaderFailOnMissingInformer: true,
			DefaultTransform:            stripUnread,
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

// stripUnread drops from every object the cache keeps what the controller never reads:
// managedFields (server-side apply bookkeeping) and kubectl's last-applied-configuration
// annotation (a second copy of the whole object for every object applied with kubectl apply).
// The resourceVersion stays: the informer tells a resync from an update by it. SecureSites and
// our Secrets have transforms of their own (CompactSite, secretWakeFrom).
// Nothing is written back from the cache: a pass reads its site from the API server and patches
// against that copy. The informer hands the transform a freshly decoded object.
func stripUnread(in any) (any, error) {
	obj, err := meta.Accessor(in)
	if err != nil {
		return in, nil //nolint:nilerr // not an object with metadata: kept as it is
	}
	if obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	if m, ok := in.(*metav1.PartialObjectMetadata); ok {
		internMetadataStrings(m)
	}
	if a := obj.GetAnnotations(); a != nil {
		if _, ok := a[corev1.LastAppliedConfigAnnotation]; ok {
			delete(a, corev1.LastAppliedConfigAnnotation)
			if len(a) == 0 {
				obj.SetAnnotations(nil)
			}
		}
	}
	return in, nil
}

// internMetadataStrings makes the strings every cached object of a kind repeats (apiVersion and
// kind, which the informer sets on each object it decodes, namespace, finalizers) share one copy:
// decoded from JSON, each object had its own. Namespaces are cached as this metadata alone.
func internMetadataStrings(m *metav1.PartialObjectMetadata) {
	in := func(s *string) { *s = unique.Make(*s).Value() }
	in(&m.APIVersion)
	in(&m.Kind)
	in(&m.Namespace)
	for i := range m.Finalizers {
		in(&m.Finalizers[i])
	}
}

// newEventRecorder is the controller's Event recorder: client-go's events semantics with a
// bounded memory of recent events (see internal/events).
func newEventRecorder(mgr ctrl.Manager) (*events.Recorder, error) {
	c, err := eventsv1client.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return nil, err
	}
	rec := events.New(c, mgr.GetScheme(), "securesite-controller", ctrl.Log.WithName("events"))
	return rec, mgr.Add(rec)
}

// newIssuancePool is the bounded pool of ACME issuance workers; a finished order wakes its site
// through wake.
func newIssuancePool(mgr ctrl.Manager, cfg *rest.Config, o Options, challenges acme.ChallengeDNS, wake chan<- event.GenericEvent) (*acme.Pool, error) {
	now := nowFunc(o)
	logger := o.ACMELogger
	if logger == nil {
		logger = slog.New(logr.ToSlogHandler(ctrl.Log.WithName("acme")))
	}
	// ACME account keys are read straight from the API server: the cache holds Secret metadata only.
	direct, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return nil, err
	}
	return acme.NewPool(acme.Options{
		Workers:                  o.IssuanceWorkers,
		CABundle:                 o.ACMECABundle,
		Nameservers:              o.DNS01Nameservers,
		SkipAuthoritativeNSCheck: o.DNS01SkipAuthoritative,
		PropagationTimeout:       o.PropagationTimeout,
		PollInterval:             o.PropagationInterval,
		Accounts:                 acme.NewSecretAccountStore(direct, o.Namespace),
		Limits:                   o.ACMELimits,
		Ledger: acme.NewSecretLedgerStore(direct, mgr.GetAPIReader(), o.Namespace, func() time.Time {
			return now().Add(-acme.LedgerKeep(o.ACMELimits))
		}),
		DNS:    challenges,
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
	}), nil
}

// metricsOptions serves metrics over HTTPS with TokenReview/SubjectAccessReview authorization when
// SecureMetrics is set (the install does), plain HTTP otherwise (local runs, the test world).
func metricsOptions(o Options) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsAddr, SecureServing: o.SecureMetrics,
		// A scrape that arrives while another gathers shares its result. A gather holds every
		// per-site series at once (about 1.1 KB a site), so two Prometheus replicas, or a person's
		// curl during a scrape, would otherwise hold it twice, and slow scrapes would pile up.
		HandlerOpts: []func(*promhttp.HandlerOpts){func(h *promhttp.HandlerOpts) { h.CoalesceGather = true }},
	}
	if o.SecureMetrics {
		m.FilterProvider = metricsauth.Filter
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
