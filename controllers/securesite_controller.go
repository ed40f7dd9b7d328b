// Package controllers holds the SecureSite reconciler: a thin Reconcile that runs an ordered list
// of phases (DNS, certificate, ACM, bucket, distribution), each observing AWS into a scope and
// acting on the difference, then computes conditions from the scope and patches status once.
package controllers

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// Defaults are the controller-wide values a SecureSite may leave out.
type Defaults struct {
	ACMEServer string
	ACMEEmail  string
	Region     string
}

// region is the AWS region a spec field names, or the controller's default.
func (d Defaults) region(r string) string {
	if r != "" {
		return r
	}
	return d.Region
}

// SecureSiteReconciler reconciles SecureSite objects.
type SecureSiteReconciler struct {
	client.Client
	// APIReader reads around the cache: Secrets are read here (the cache keeps of our labelled
	// Secrets only which site each wakes), so a Secret someone else created under our name is seen.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Clock     clock.PassiveClock
	Defaults  Defaults

	DNS           dnsService
	Issuer        certificateIssuer
	ACM           acmService
	Buckets       bucketService
	Distributions distributionService
	// Tenancy holds the controller-wide fences and ownership settings (--domain-filter,
	// --zone-id-filter, --reserved-names).
	Tenancy Tenancy

	// Exporter copies certificates to AWS Secrets Manager (nil: export unsupported).
	Exporter certificateExporter

	// ResyncPeriod re-checks a Ready site for drift. Default 10 minutes.
	ResyncPeriod time.Duration
	// Wake receives a site's key when an issuance finishes, so the reconciler picks up the result
	// without polling.
	Wake chan event.GenericEvent
	// answered receives a site's key when Route53 has answered its queued record change (see
	// wake); made by SetupWithManager.
	answered chan event.GenericEvent
	// DesiredRecords receives each site's desired Route53 records for the zone-level drift check
	// (nil: no drift check), and Drifted carries the sites it found drifted.
	DesiredRecords desiredRecordIndex
	Drifted        chan event.GenericEvent
	// MaxConcurrentReconciles bounds the reconcile workers.
	MaxConcurrentReconciles int

	// sites keeps, per site, the resourceVersion of its last status patch and what the per-site
	// metrics export: a few dozen bytes where a cached SecureSite was kilobytes.
	sites siteRecords
	// ownWrites holds the site Secret writes whose watch event has not come in yet: that event
	// does not wake the site (see ownSecretWrites).
	ownWrites ownSecretWrites
	// cachedSites is the store of the cache's SecureSite informer (see CachedSite).
	cachedSites toolscache.Indexer
	// resyncScheduled is set once the resync schedule adds due sites to the queue (see
	// resyncSource); until then resyncs wait in the queue.
	resyncScheduled atomic.Bool
}

// +kubebuilder:rbac:groups=securesite.io,resources=securesites,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=securesite.io,resources=securesites/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=securesite.io,resources=securesites/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// phase is one step of a reconcile pass: it gathers what AWS and the cluster hold, decides with
// a pure function, acts on the difference and records what it saw in its part of the scope.
// Facts a later phase needs flow forward through the scope. It returns a stalledError for
// problems only the user can fix and any other error for transient failures (the rate limiter
// backs off).
type phase struct {
	name string
	run  func(ctx context.Context, s *scope) error
}

// Phase names, as events and logs say them.
const (
	phasePermission   = "permission"
	phaseAuthority    = "status authority"
	phaseZone         = "zone"
	phaseCertificate  = "certificate"
	phaseExport       = "export"
	phaseACM          = "acm"
	phaseBucket       = "bucket"
	phaseDistribution = "distribution"
	phaseOrigin       = "origin"
	phaseDNS          = "dns"
)

// phases is the order of a pass, and each runs once: permission and status authority before
// anything may be written, then the zone (the certificate's DNS-01 records go there), and the DNS
// records last (their alias target is the distribution's name).
func (r *SecureSiteReconciler) phases() []phase {
	return []phase{
		{phasePermission, r.reconcilePermission},
		{phaseAuthority, r.reconcileStatusAuthority},
		{phaseZone, r.reconcileZone},
		{phaseCertificate, r.reconcileCertificate},
		{phaseExport, r.reconcileExport},
		{phaseACM, r.reconcileACM},
		{phaseBucket, r.reconcileBucket},
		{phaseDistribution, r.reconcileDistribution},
		{phaseOrigin, r.reconcileOrigin},
		{phaseDNS, r.reconcileDNS},
	}
}

// Reconcile is plumbing: fetch, finalizer, phases, status.
func (r *SecureSiteReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.observeResyncStart(req.NamespacedName)
	site, err := r.fetch(ctx, req.NamespacedName)
	if site == nil || err != nil {
		return ctrl.Result{}, err
	}
	if !site.DeletionTimestamp.IsZero() {
		r.forgetSite(req.NamespacedName)
		return r.reconcileDelete(ctx, site)
	}
	// The finalizer goes on in its own small patch before anything is created in AWS, so a
	// deletion can never leave AWS objects behind.
	if !controllerutil.ContainsFinalizer(site, v1alpha1.Finalizer) {
		base := site.DeepCopy()
		controllerutil.AddFinalizer(site, v1alpha1.Finalizer)
		if err := r.Patch(ctx, site, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, err
		}
	}

	s := newScope(site, r.Clock.Now(), r.Tenancy.OwnerID)
	status := r.statusWriter(req.NamespacedName, site, s)
	s.saveStatus = status.save
	r.runPhases(ctx, s)
	r.setConditions(site, s)
	if s.failed == nil && s.stalled == nil {
		site.Status.ObservedGeneration = site.Generation
	}
	if err := status.save(ctx); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		if s.failed == nil {
			return ctrl.Result{}, err
		}
	}
	return r.result(req.NamespacedName, s)
}

// fetch reads the site; nil when it is gone, or not this controller's. The cache holds only the
// sites this controller watches (its shard), each as a CachedSite: it says whether the site is
// ours, and the API server says what the site is now. A read from the API server is never behind
// our own last status patch; a cached copy was when wake-ups came in a row, and a pass working
// from it redid the last pass (imported a second ACM certificate) or undid it (removed alias
// records it did not know about yet).
func (r *SecureSiteReconciler) fetch(ctx context.Context, key types.NamespacedName) (*v1alpha1.SecureSite, error) {
	site := &v1alpha1.SecureSite{}
	_, watched, err := r.cachedSites.GetByKey(key.String())
	if err != nil {
		return nil, err
	}
	if watched {
		err = r.APIReader.Get(ctx, key, site)
	}
	if !watched || apierrors.IsNotFound(err) {
		r.forgetSite(key)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return site, nil
}

// siteMetadata is an empty SecureSite as the cache's informer decodes it: metadata only (the
// informer then keeps a CachedSite of it).
func siteMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("SecureSite"))
	return m
}

// forgetSite drops what the controller keeps of a site that is gone, being deleted or no longer
// this controller's: drift repair, metrics, the last patch's resourceVersion, a Secret write
// waiting for its event.
func (r *SecureSiteReconciler) forgetSite(key types.NamespacedName) {
	r.forgetDesired(key)
	r.sites.remove(key)
	r.ownWrites.forget(key)
}

// runPhases runs the phases in order; the first error ends the pass and is kept in the scope.
func (r *SecureSiteReconciler) runPhases(ctx context.Context, s *scope) {
	for _, p := range r.phases() {
		err := p.run(ctx, s)
		if err == nil {
			continue
		}
		if st, ok := asStalled(err); ok {
			s.stalled = st
			r.Recorder.Eventf(s.site, nil, corev1.EventTypeWarning, st.reason, "Reconcile", st.message)
			return
		}
		s.failed = &phaseFailure{phase: p.name, err: err}
		log.FromContext(ctx).Error(err, "phase failed", "phase", p.name)
		r.Recorder.Eventf(s.site, nil, corev1.EventTypeWarning, failureReason(err), "Reconcile", "%s: %v", p.name, err)
		return
	}
}

// result says when to look again: a transient failure goes back to the rate limiter, a problem
// only the user can fix waits for a spec change, anything else requeues after the shortest wait
// a phase asked for, but never later than the resync period. A resync is left to the resync
// schedule, not the queue. Every pass replaces the site's schedule (its status patch cleared it).
func (r *SecureSiteReconciler) result(key types.NamespacedName, s *scope) (ctrl.Result, error) {
	switch {
	case s.failed != nil:
		return ctrl.Result{}, s.failed.err
	case s.stalled != nil:
		return ctrl.Result{}, nil //nolint:nilerr // only the user can fix it: reported as Stalled, not retried
	}
	resync := r.resyncPeriod()
	wait := jitter(nextPass(s.requeueAfter, resync))
	if s.requeueAfter > 0 && s.requeueAfter < resync || !r.resyncScheduled.Load() || !r.sites.scheduleResync(key, wait) {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	return ctrl.Result{}, nil
}

// nextPass is when a site is looked at again: the shortest wait a phase asked for, but never later
// than the resync period. A valid certificate asks to be looked at on its renewal day; taking
// that wait alone once left drift in the site's other objects unrepaired for up to a day.
func nextPass(phaseWait, resync time.Duration) time.Duration {
	if phaseWait > 0 && phaseWait < resync {
		return phaseWait
	}
	return resync
}

// statusPatch writes the site's status as a merge patch against what was last written, so a
// pass writes status once at the end (and a phase may save a fact early, see reconcileACM). A
// pass that changed nothing in status sends nothing: an empty patch costs the API server a whole
// status update (decoding, validation, managed fields) to store nothing, and passes that change
// nothing are most passes (resyncs, wake-ups whose news an earlier pass already took).
type statusPatch struct {
	r     *SecureSiteReconciler
	key   types.NamespacedName
	site  *v1alpha1.SecureSite
	base  *v1alpha1.SecureSite
	scope *scope
}

func (r *SecureSiteReconciler) statusWriter(key types.NamespacedName, site *v1alpha1.SecureSite, s *scope) *statusPatch {
	return &statusPatch{r: r, key: key, site: site, base: site.DeepCopy(), scope: s}
}

func (p *statusPatch) save(ctx context.Context) error {
	if equality.Semantic.DeepEqual(p.site.Status, p.base.Status) {
		p.keepUnchanged()
		return nil
	}
	if err := p.r.Status().Patch(ctx, p.site, client.MergeFrom(p.base)); err != nil {
		return err
	}
	p.r.sites.store(p.key, recordOf(p.site))
	p.base = p.site.DeepCopy()
	return nil
}

// keepUnchanged records a pass that left status as it was read, without a patch. The
// resourceVersion read stands for status we wrote (foreignStatusObject skips its owner check for
// it) only when this pass checked the owners of what status names; otherwise the version our
// last patch returned is kept, and the next pass checks them.
func (p *statusPatch) keepUnchanged() {
	rec := recordOf(p.site)
	if !p.scope.ownersChecked {
		last, _ := p.r.sites.load(p.key)
		rec.written = last.written
	}
	p.r.sites.store(p.key, rec)
}

func (r *SecureSiteReconciler) setConditions(site *v1alpha1.SecureSite, s *scope) {
	phases := phaseConditions(s)
	urls := endpointURLs(site, s)
	site.Status.URLs = &urls
	stalled := problem(phases, s.stalled)
	ready := readyCondition(site, phases, s.stalled, urls)
	if f := s.failed; f != nil && conditionOfPhase[f.phase] == "" {
		// A phase with no condition of its own (permission, status authority): Ready says it.
		ready = failedCondition(v1alpha1.ConditionReady, fmt.Errorf("%s: %w", f.phase, f.err))
	}
	all := append(slices.Clone(phases), ready, reconcilingCondition(ready, stalled), stalledCondition(stalled))
	for _, c := range all {
		c.ObservedGeneration = site.Generation
		meta.SetStatusCondition(&site.Status.Conditions, c)
	}
}

// endpointURLs lists the endpoints served over HTTPS with a valid certificate right now.
func endpointURLs(site *v1alpha1.SecureSite, s *scope) v1alpha1.URLsStatus {
	var u v1alpha1.URLsStatus
	certOK := s.cert.state == certValid
	dnsOK := s.dns.zone.ID != "" && len(s.dns.conflicts) == 0 && !s.dns.pending
	if site.Spec.Backend != nil && certOK && dnsOK {
		u.API = "https://" + site.Spec.Backend.Hostname
	}
	if site.Spec.StaticSite != nil && certOK && s.acm.imported && s.distribution.ready {
		u.Site = "https://" + site.Spec.Domain
	}
	return u
}

// recordsAnswered wakes the site once Route53 has answered its queued record change, unless the
// site's certificate order is still queued or running: the pass its result wakes takes the
// answer as well (one pass for both instead of two), and a site whose order waits longer (the
// CA's rate limits) is looked at again within issuingRecheck anyway.
func (r *SecureSiteReconciler) recordsAnswered(key types.NamespacedName) {
	if r.Issuer != nil && r.Issuer.InFlight(key) {
		return
	}
	r.wake(key)
}

// wake queues a pass of the site, without blocking: when the channel is full, the requeue the
// pass asked for (dnsPendingWait) looks again. The pass goes ahead of bulk work, like an order's
// result: it is what the site waits for to be Ready, and a site woken here has had its first pass.
func (r *SecureSiteReconciler) wake(key types.NamespacedName) {
	if r.answered == nil {
		return
	}
	obj := &v1alpha1.SecureSite{}
	obj.Namespace, obj.Name = key.Namespace, key.Name
	select {
	case r.answered <- event.GenericEvent{Object: obj}:
	default:
	}
}

// siteControllerName names the controller, its logs and its workqueue metrics (the name For
// would have given it).
const siteControllerName = "securesite"

// siteLogger is the logger For would have given each pass: the controller, the kind, the site.
func siteLogger(base logr.Logger) func(*reconcile.Request) logr.Logger {
	gvk := v1alpha1.GroupVersion.WithKind("SecureSite")
	base = base.WithValues("controller", siteControllerName, "controllerGroup", gvk.Group, "controllerKind", gvk.Kind)
	return func(req *reconcile.Request) logr.Logger {
		if req == nil {
			return base
		}
		return base.WithValues(gvk.Kind, klog.KRef(req.Namespace, req.Name), "namespace", req.Namespace, "name", req.Name)
	}
}

// SetupWithManager registers the controller: SecureSites, the Secrets they own, and wake-ups from
// the issuance pool.
func (r *SecureSiteReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	collectSiteMetricsFrom(&r.sites)
	sites, err := cachedSiteIndex(mgr)
	if err != nil {
		return err
	}
	r.cachedSites = sites
	workers := max(1, r.MaxConcurrentReconciles)
	// Of SecureSites the cache keeps only what wakes them (CachedSite, from the metadata-only
	// informer); each pass reads its site from the API server. The sites' own handler (siteEvents)
	// and the admission queue keep floods of sites out of the work queue (see admissionQueue). A
	// site's Secret wakes it when anyone but this controller changes it (see ownSecretWrites).
	b := ctrl.NewControllerManagedBy(mgr).
		Named(siteControllerName).
		Watches(&v1alpha1.SecureSite{}, siteEvents{}, builder.OnlyMetadata, builder.WithPredicates(siteChanged)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &v1alpha1.SecureSite{}, handler.OnlyControllerOwner()),
			builder.OnlyMetadata, builder.WithPredicates(r.ownWrites.notOurWrite())).
		WithLogConstructor(siteLogger(mgr.GetLogger())).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: workers,
			NewQueue: func(name string, rl workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
				return newAdmissionQueue(name, workers, rl)
			},
		})
	b = r.watchGrants(b)
	if r.Wake != nil {
		b = b.WatchesRawSource(source.Channel(r.Wake, &handler.EnqueueRequestForObject{}))
	}
	if r.Drifted != nil {
		b = b.WatchesRawSource(source.Channel(r.Drifted, handler.TypedEventHandler[client.Object, reconcile.Request](lowPriorityEvents{&handler.EnqueueRequestForObject{}})))
	}
	if r.answered == nil {
		r.answered = make(chan event.GenericEvent, 1024)
	}
	b = b.WatchesRawSource(source.Channel(r.answered, &handler.EnqueueRequestForObject{}))
	b = b.WatchesRawSource(r.resyncSource())
	return b.Complete(r)
}
