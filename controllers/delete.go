package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/acmimport"
	"github.com/securesite-io/securesite/internal/cdn"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/records"
	"github.com/securesite-io/securesite/internal/s3bucket"
)

// reconcileDelete undoes what the site made: DNS records first (so no alias ever points at a
// deleted distribution), then the distribution (disabled, deployed, deleted) with its origin
// access control, the ACM certificate, and the bucket only under deletionPolicy Delete. The Secret
// goes with its owner through garbage collection. The finalizer is released last, only after AWS
// accepted every deletion.
func (r *SecureSiteReconciler) reconcileDelete(ctx context.Context, site *v1alpha1.SecureSite) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(site, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	s := newScope(site, r.Clock.Now(), r.Tenancy.OwnerID)
	if !s.writesAllowed() {
		// Like Flux, a suspended object is released without touching AWS: suspend means "change
		// nothing", and deleting is a change the user asked us not to make.
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonSuspended, "Delete", "suspended: AWS objects left in place")
		return ctrl.Result{}, r.releaseFinalizer(ctx, site)
	}
	base := site.DeepCopy()
	err := r.forgetForeignStatusObjects(ctx, site, s.owner)
	var wait deleteWait
	if err == nil {
		wait, err = r.deleteAWSObjects(ctx, s)
	}
	if err == nil && wait.after == 0 {
		return ctrl.Result{}, r.releaseFinalizer(ctx, site)
	}
	r.reportDeleting(site, wait, err)
	if perr := r.Status().Patch(ctx, site, client.MergeFrom(base)); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: jitter(wait.after)}, nil
}

// deleteWait is why a deletion pass stops without an error: AWS is not done yet, nothing failed.
type deleteWait struct {
	after   time.Duration
	message string
	// inUse: AWS refused a deletion because it still counts the object as used.
	inUse bool
}

// inUseWait decides whether a failed deletion is a wait: for minutes after DeleteDistribution, AWS
// still counts the origin access control (OriginAccessControlInUse) and the certificate
// (ResourceInUseException) as used by it. Asking again later is all there is to do, so it is
// neither an error (rate-limiter backoff) nor a Warning.
func inUseWait(err error) (deleteWait, bool) {
	if !errors.Is(err, cdn.ErrInUse) && !errors.Is(err, acmimport.ErrInUse) {
		return deleteWait{}, false
	}
	return deleteWait{after: inUseRetryWait, inUse: true,
		message: fmt.Sprintf("waiting for AWS to release what the deleted distribution used: %v", err)}, true
}

// announceWait decides whether a wait deserves an event: once, when Reconciling starts saying it,
// not on every requeue while AWS keeps answering "in use".
func announceWait(conds []metav1.Condition, wait deleteWait) bool {
	if !wait.inUse {
		return false
	}
	c := meta.FindStatusCondition(conds, v1alpha1.ConditionReconciling)
	return c == nil || c.Status != metav1.ConditionTrue || c.Message != wait.message
}

// reportDeleting writes what the deletion waits for, or what failed, to the conditions; a failure
// is a Warning, a wait at most one Normal event.
func (r *SecureSiteReconciler) reportDeleting(site *v1alpha1.SecureSite, wait deleteWait, err error) {
	msg := wait.message
	switch {
	case err != nil:
		msg = err.Error()
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, failureReason(err), "Delete", "%v", err)
	case announceWait(site.Status.Conditions, wait):
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, v1alpha1.ReasonDeleting, "Delete", "%s", msg)
	}
	meta.SetStatusCondition(&site.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: v1alpha1.ReasonDeleting, Message: msg, ObservedGeneration: site.Generation})
	if err == nil {
		meta.SetStatusCondition(&site.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReconciling, Status: metav1.ConditionTrue,
			Reason: v1alpha1.ReasonDeleting, Message: msg, ObservedGeneration: site.Generation})
	}
}

func (r *SecureSiteReconciler) releaseFinalizer(ctx context.Context, site *v1alpha1.SecureSite) error {
	base := site.DeepCopy()
	controllerutil.RemoveFinalizer(site, v1alpha1.Finalizer)
	if err := r.Patch(ctx, site, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// deleteAWSObjects returns a wait (CloudFront must deploy first, or AWS still counts the OAC or
// the certificate as in use), or an error. The records go first: an alias must never point at a
// distribution that is deleted, and a distribution never needs its records to be deleted.
func (r *SecureSiteReconciler) deleteAWSObjects(ctx context.Context, s *scope) (deleteWait, error) {
	if err := r.releaseRecords(ctx, s); err != nil {
		return deleteWait{}, err
	}
	if wait, err := r.deleteDistribution(ctx, s.site); wait > 0 || err != nil {
		if w, ok := inUseWait(err); ok {
			return w, nil
		}
		return deleteWait{after: wait, message: "waiting for the disabled distribution to deploy before deleting it"}, err
	}
	steps := []func(context.Context, *scope) error{r.deleteACMCertificate, r.deleteExport, r.deleteBuckets}
	for _, step := range steps {
		if err := step(ctx, s); err != nil {
			if w, ok := inUseWait(err); ok {
				return w, nil
			}
			return deleteWait{}, err
		}
	}
	return deleteWait{}, nil
}

// deleteDistribution disables the distribution, waits for the deployment, then deletes it and
// its origin access control.
func (r *SecureSiteReconciler) deleteDistribution(ctx context.Context, site *v1alpha1.SecureSite) (time.Duration, error) {
	d := site.Status.Distribution
	if d == nil {
		return 0, nil
	}
	if d.ID != "" {
		dist, err := r.Distributions.Get(ctx, d.ID)
		switch {
		case errors.Is(err, cdn.ErrNotFound):
			// already gone
		case err != nil:
			return 0, fmt.Errorf("reading distribution %s: %w", d.ID, err)
		case dist.Enabled:
			// AWS refuses to delete an enabled distribution; disabling takes a deployment.
			if dist, err = r.Distributions.Disable(ctx, d.ID); err != nil {
				return 0, fmt.Errorf("disabling distribution %s: %w", d.ID, err)
			}
			r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "DistributionDisabled", "Delete", "distribution %s disabled; deleting once deployed", d.ID)
			fallthrough
		default:
			// Already deployed (a fast emulator): no reason to wait a requeue before deleting.
			if dist.Status != "Deployed" {
				return deployWait, nil
			}
			if err := r.Distributions.Delete(ctx, d.ID, dist.ETag); err != nil {
				return 0, fmt.Errorf("deleting distribution %s: %w", d.ID, err)
			}
			r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "DistributionDeleted", "Delete", "distribution %s deleted", d.ID)
		}
		d.ID = ""
	}
	if d.OriginAccessControlID != "" {
		if err := r.Distributions.DeleteOAC(ctx, d.OriginAccessControlID); err != nil {
			return 0, err
		}
		d.OriginAccessControlID = ""
	}
	return 0, nil
}

// releaseRecords removes every record the site owns, with its registry record; records of others
// are never touched.
func (r *SecureSiteReconciler) releaseRecords(ctx context.Context, s *scope) error {
	site := s.site
	zoneID := site.Spec.HostedZoneID
	if site.Status.DNS != nil && site.Status.DNS.HostedZoneID != "" {
		zoneID = site.Status.DNS.HostedZoneID
	}
	zone, err := r.findZone(ctx, site.Spec.Domain, zoneID)
	if errors.Is(err, records.ErrZoneNotFound) {
		return nil // nothing of ours can be in a zone that does not exist
	}
	if err != nil {
		return fmt.Errorf("finding hosted zone: %w", err)
	}
	// The site's own records, then DNS-01 challenge records an interrupted order left behind
	// (a separate owner, so the DNS phase never deletes a challenge in flight).
	for _, o := range []string{s.owner, naming.ChallengeOwner(s.owner)} {
		res, err := r.DNS.Release(ctx, zone, o)
		if err != nil {
			return fmt.Errorf("removing records from zone %s: %w", zone.Name, err)
		}
		for _, ch := range res.Changed {
			r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "RecordDeleted", "Delete", "%s", ch.String())
		}
	}
	return nil
}

// deleteACMCertificate deletes the site's ACM certificate and every certificate a key change
// replaced that still waits for its retirement (the distribution was not yet Deployed without
// it): the distribution that may have used them is gone now. Each is removed from status once
// deleted, so a pass that waits on AWS ("in use") resumes with the ones left.
func (r *SecureSiteReconciler) deleteACMCertificate(ctx context.Context, s *scope) error {
	c := s.site.Status.Certificate
	if c == nil {
		return nil
	}
	carryOverRetiredACM(c)
	var deleted []string
	defer func() {
		// One event for the pass: repeats of an event on a site fold into the first one's series.
		if len(deleted) > 0 {
			r.Recorder.Eventf(s.site, nil, corev1.EventTypeNormal, "CertificateDeleted", "Delete", "%s deleted", acmCertificates(deleted))
		}
	}()
	for len(c.ACMRetiredCertificateARNs) > 0 {
		arn := c.ACMRetiredCertificateARNs[0]
		if arn != c.ACMCertificateARN {
			if err := r.ACM.Delete(ctx, arn); err != nil {
				return fmt.Errorf("deleting ACM certificate %s: %w", arn, err)
			}
			deleted = append(deleted, arn)
		}
		c.ACMRetiredCertificateARNs = c.ACMRetiredCertificateARNs[1:]
	}
	c.ACMRetiredCertificateARNs = nil
	if arn := c.ACMCertificateARN; arn != "" {
		if err := r.ACM.Delete(ctx, arn); err != nil {
			return fmt.Errorf("deleting ACM certificate %s: %w", arn, err)
		}
		deleted = append(deleted, arn)
		c.ACMCertificateARN = ""
	}
	return nil
}

// deleteExport removes the Secrets Manager copy under deletionPolicy Delete (scheduled, with AWS's
// recovery window); under Retain the backend keeps fetching the last certificate.
func (r *SecureSiteReconciler) deleteExport(ctx context.Context, s *scope) error {
	site := s.site
	c := site.Status.Certificate
	ex := site.Spec.Certificate.Export
	if c == nil || c.Export == nil || c.Export.SecretsManagerARN == "" || ex == nil || ex.SecretsManager == nil || r.Exporter == nil {
		return nil
	}
	if site.Spec.DeletionPolicy != v1alpha1.DeletionPolicyDelete {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "ExportRetained", "Delete", "Secrets Manager secret %s kept (deletionPolicy Retain)", c.Export.SecretsManagerARN)
		return nil
	}
	if err := r.Exporter.Delete(ctx, r.Defaults.region(ex.SecretsManager.Region), ex.SecretsManager.Name, s.owner); err != nil {
		return fmt.Errorf("deleting Secrets Manager secret %s: %w", ex.SecretsManager.Name, err)
	}
	r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "ExportDeleted", "Delete", "Secrets Manager secret %s scheduled for deletion", c.Export.SecretsManagerARN)
	c.Export = nil
	return nil
}

// deleteBuckets empties and deletes the site's buckets under deletionPolicy Delete; under Retain
// they stay with their objects.
func (r *SecureSiteReconciler) deleteBuckets(ctx context.Context, s *scope) error {
	site := s.site
	b := site.Status.Bucket
	if b == nil || b.Name == "" {
		return nil
	}
	if site.Spec.DeletionPolicy != v1alpha1.DeletionPolicyDelete {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "BucketRetained", "Delete", "bucket %s kept with its objects (deletionPolicy Retain)", b.Name)
		return nil
	}
	buckets := []s3bucket.Bucket{bucketOf(b)}
	if m := b.Migration; m != nil && m.To != "" && m.To != b.Name && m.Phase != v1alpha1.MigrationPhaseDone {
		// A half-finished migration's target was made by us too.
		buckets = append(buckets, s3bucket.Bucket{Name: m.To, Region: b.Region})
	}
	for _, bk := range buckets {
		if err := r.Buckets.EmptyAndDelete(ctx, bk); err != nil {
			return fmt.Errorf("deleting bucket %s: %w", bk.Name, err)
		}
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "BucketDeleted", "Delete", "bucket %s emptied and deleted (deletionPolicy Delete)", bk.Name)
	}
	return nil
}
