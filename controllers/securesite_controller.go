// Package controllers holds the SecureSite reconciler: a thin Reconcile that runs an ordered list
// of phases (DNS, certificate, ACM, bucket, distribution), each observing AWS into a scope and
// acting on the difference, then computes conditions from the scope and patches status once.
package controllers

import (
	"context"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
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

// SecureSiteReconciler reconciles SecureSite objects.
type SecureSiteReconciler struct {
	client.Client
	// APIReader reads around the cache: the cache only holds Secrets we labelled, so a Secret that
	// someone else created under our name is seen here.
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
	// DesiredRecords receives each site's desired Route53 records for the zone-level drift check
	// (nil: no drift check), and Drifted carries the sites it found drifted.
	DesiredRecords desiredRecordIndex
	Drifted        chan event.GenericEvent
	// MaxConcurrentReconciles bounds the reconcile workers.
	MaxConcurrentReconciles int

	// written holds the resourceVersion of each site's last status patch (NamespacedName →
	// string). The cache can lag behind our own write when wake-ups come in a row; a pass working
	// from that stale copy would redo the last pass (import a second ACM certificate) or undo it
	// (remove alias records it does not know about yet).
	written sync.Map
}

// +kubebuilder:rbac:groups=securesite.io,resources=securesites,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=securesite.io,resources=securesites/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=securesite.io,resources=securesites/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// phase is one step of a reconcile pass. It observes, acts when needed, and records what it saw
// in the scope. It returns a stalledError for problems only the user can fix and any other error
// for transient failures (the rate limiter backs off).
type phase struct {
	name string
	run  func(ctx context.Context, s *scope) error
}

func (r *SecureSiteReconciler) phases() []phase {
	return []phase{
		{"permission", r.reconcilePermission},
		{"status authority", r.reconcileStatusAuthority},
		{"dns", r.reconcileDNS},
		{"certificate", r.reconcileCertificate},
		{"export", r.reconcileExport},
		{"acm", r.reconcileACM},
		{"bucket", r.reconcileBucket},
		{"distribution", r.reconcileDistribution},
	}
}

// Reconcile is plumbing: fetch, finalizer, phases, status.
func (r *SecureSiteReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	site := &v1alpha1.SecureSite{}
	if err := r.Get(ctx, req.NamespacedName, site); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.Delete(req.NamespacedName)
			r.forgetDesired(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if rv, ok := r.written.Load(req.NamespacedName); ok && rv != site.ResourceVersion && r.APIReader != nil {
		// Not the version we last wrote: either someone changed it or the cache is behind us.
		// One read from the API server tells which.
		if err := r.APIReader.Get(ctx, req.NamespacedName, site); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if !site.DeletionTimestamp.IsZero() {
		r.forgetDesired(req.NamespacedName)
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

	base := site.DeepCopy()
	s := newScope(site, r.Clock.Now(), r.Tenancy.OwnerID)
	var phaseErr error
	for _, p := range r.phases() {
		if phaseErr = p.run(ctx, s); phaseErr != nil {
			if st, ok := asStalled(phaseErr); ok {
				s.stalled = st
				r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, st.reason, "Reconcile", st.message)
				phaseErr = nil
			} else {
				log.FromContext(ctx).Error(phaseErr, "phase failed", "phase", p.name)
				r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, "PhaseFailed", "Reconcile", "%s: %v", p.name, phaseErr)
			}
			break
		}
	}

	r.setConditions(site, s)
	if phaseErr == nil && s.stalled == nil {
		site.Status.ObservedGeneration = site.Generation
	}
	if err := r.Status().Patch(ctx, site, client.MergeFrom(base)); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		if phaseErr == nil {
			phaseErr = err
		}
	} else {
		r.written.Store(req.NamespacedName, site.ResourceVersion)
	}
	if phaseErr != nil {
		return ctrl.Result{}, phaseErr
	}
	if s.stalled != nil {
		return ctrl.Result{}, nil //nolint:nilerr // only the user can fix it: reported as Stalled, not retried
	}
	return ctrl.Result{RequeueAfter: jitter(nextPass(s.requeueAfter, r.resyncPeriod()))}, nil
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

func (r *SecureSiteReconciler) setConditions(site *v1alpha1.SecureSite, s *scope) {
	phases := []metav1.Condition{
		dnsReadyCondition(site, s.dns),
		certificateReadyCondition(s.cert),
		exportReadyCondition(s.export),
		bucketReadyCondition(s.bucket),
		distributionReadyCondition(s.distribution),
	}
	urls := endpointURLs(site, s)
	site.Status.URLs = &urls
	ready := readyCondition(site, phases, s.stalled, urls)
	all := append(slices.Clone(phases), ready, reconcilingCondition(ready, s.stalled), stalledCondition(s.stalled))
	for _, c := range all {
		c.ObservedGeneration = site.Generation
		meta.SetStatusCondition(&site.Status.Conditions, c)
	}
	recordConditionMetrics(site)
}

// endpointURLs lists the endpoints served over HTTPS with a valid certificate right now.
func endpointURLs(site *v1alpha1.SecureSite, s *scope) v1alpha1.URLsStatus {
	var u v1alpha1.URLsStatus
	certOK := s.cert.state == certValid
	if site.Spec.Backend != nil && certOK && s.dns.zoneProblem == "" && len(s.dns.conflicts) == 0 && !s.dns.pending {
		u.API = "https://" + site.Spec.Backend.Hostname
	}
	if site.Spec.StaticSite != nil && certOK && s.acm.imported && s.distribution.ready {
		u.Site = "https://" + site.Spec.Domain
	}
	return u
}

// SetupWithManager registers the controller: SecureSites, the Secrets they own, and wake-ups from
// the issuance pool.
func (r *SecureSiteReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.SecureSite{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Secret{}, builder.OnlyMetadata).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)})
	b = r.watchGrants(b)
	if r.Wake != nil {
		b = b.WatchesRawSource(source.Channel(r.Wake, &handler.EnqueueRequestForObject{}))
	}
	if r.Drifted != nil {
		b = b.WatchesRawSource(source.Channel(r.Drifted, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}
