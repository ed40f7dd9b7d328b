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
// distribution being deleted), then the distribution (disabled, deployed, deleted), its origin
// access control and the ACM certificate (AWS calls both "in use" for minutes after the
// distribution is gone: a wait, reported as such, not a failure), and the bucket only under
// deletionPolicy Delete. The
// Secret goes with its owner through garbage collection. The finalizer is released last, only
// after AWS accepted every deletion.
func (r *SecureSiteReconciler) reconcileDelete(ctx context.Context, site *v1alpha1.SecureSite) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(site, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if site.Spec.Suspend {
		// Like Flux, a suspended object is released without touching AWS: suspend means "change
		// nothing", and deleting is a change the user asked us not to make.
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonSuspended, "Delete", "suspended: AWS objects left in place")
		return ctrl.Result{}, r.releaseFinalizer(ctx, site)
	}
	base := site.DeepCopy()
	err := r.forgetForeignStatusObjects(ctx, site, naming.Owner(r.Tenancy.OwnerID, site.Namespace, site.Name))
	var wait time.Duration
	var why string
	if err == nil {
		wait, why, err = r.deleteAWSObjects(ctx, site)
	}
	msg := "deleting AWS objects"
	if err != nil {
		msg = err.Error()
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonAWSError, "Delete", "%v", err)
	} else if wait > 0 {
		msg = why
	}
	if err != nil || wait > 0 {
		meta.SetStatusCondition(&site.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: v1alpha1.ReasonDeleting, Message: msg, ObservedGeneration: site.Generation})
		if perr := r.Status().Patch(ctx, site, client.MergeFrom(base)); perr != nil && err == nil {
			err = perr
		}
		if err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: jitter(wait)}, nil
	}
	return ctrl.Result{}, r.releaseFinalizer(ctx, site)
}

func (r *SecureSiteReconciler) releaseFinalizer(ctx context.Context, site *v1alpha1.SecureSite) error {
	base := site.DeepCopy()
	controllerutil.RemoveFinalizer(site, v1alpha1.Finalizer)
	if err := r.Patch(ctx, site, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	forgetSiteMetrics(site)
	return nil
}

// inUseWait is how often deletion looks again at an origin access control or ACM certificate that
// AWS still counts as used by the deleted distribution.
const inUseWait = 30 * time.Second

// deleteAWSObjects returns a wait (and what it waits for) when AWS must finish something first, or
// an error.
func (r *SecureSiteReconciler) deleteAWSObjects(ctx context.Context, site *v1alpha1.SecureSite) (time.Duration, string, error) {
	const waitDeploy = "waiting for the disabled distribution to deploy before deleting it"
	if err := r.releaseRecords(ctx, site); err != nil {
		return 0, "", err
	}
	if d := site.Status.Distribution; d != nil && d.ID != "" {
		dist, err := r.Distributions.Get(ctx, d.ID)
		switch {
		case errors.Is(err, cdn.ErrNotFound):
			// already gone
		case err != nil:
			return 0, "", fmt.Errorf("reading distribution %s: %w", d.ID, err)
		case dist.Enabled:
			// AWS refuses to delete an enabled distribution; disabling takes a deployment.
			disabled, err := r.Distributions.Disable(ctx, d.ID)
			if err != nil {
				return 0, "", fmt.Errorf("disabling distribution %s: %w", d.ID, err)
			}
			r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "DistributionDisabled", "Delete", "distribution %s disabled; deleting once deployed", d.ID)
			if disabled.Status != "Deployed" {
				return deployWait, waitDeploy, nil
			}
			// Already deployed (a fast emulator): no reason to wait a requeue before deleting.
			if err := r.Distributions.Delete(ctx, d.ID, disabled.ETag); err != nil {
				return 0, "", fmt.Errorf("deleting distribution %s: %w", d.ID, err)
			}
			r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "DistributionDeleted", "Delete", "distribution %s deleted", d.ID)
		case dist.Status != "Deployed":
			return deployWait, waitDeploy, nil
		default:
			if err := r.Distributions.Delete(ctx, d.ID, dist.ETag); err != nil {
				return 0, "", fmt.Errorf("deleting distribution %s: %w", d.ID, err)
			}
			r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "DistributionDeleted", "Delete", "distribution %s deleted", d.ID)
		}
		d.ID = ""
	}
	if d := site.Status.Distribution; d != nil && d.OriginAccessControlID != "" {
		err := r.Distributions.DeleteOAC(ctx, d.OriginAccessControlID)
		if errors.Is(err, cdn.ErrInUse) {
			return inUseWait, fmt.Sprintf("waiting for CloudFront to release origin access control %s after the distribution's deletion", d.OriginAccessControlID), nil
		}
		if err != nil {
			return 0, "", err
		}
		d.OriginAccessControlID = ""
	}

	if c := site.Status.Certificate; c != nil && c.ACMRetiredCertificateARN != "" {
		err := r.ACM.Delete(ctx, c.ACMRetiredCertificateARN)
		if errors.Is(err, acmimport.ErrInUse) {
			return inUseWait, fmt.Sprintf("waiting for CloudFront to release ACM certificate %s after the distribution's deletion", c.ACMRetiredCertificateARN), nil
		}
		if err != nil {
			return 0, "", fmt.Errorf("deleting ACM certificate %s: %w", c.ACMRetiredCertificateARN, err)
		}
		c.ACMRetiredCertificateARN = ""
	}
	if c := site.Status.Certificate; c != nil && c.ACMCertificateARN != "" {
		err := r.ACM.Delete(ctx, c.ACMCertificateARN)
		if errors.Is(err, acmimport.ErrInUse) {
			return inUseWait, fmt.Sprintf("waiting for CloudFront to release ACM certificate %s after the distribution's deletion", c.ACMCertificateARN), nil
		}
		if err != nil {
			return 0, "", fmt.Errorf("deleting ACM certificate %s: %w", c.ACMCertificateARN, err)
		}
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "CertificateDeleted", "Delete", "ACM certificate %s deleted", c.ACMCertificateARN)
		c.ACMCertificateARN = ""
	}

	if err := r.deleteExport(ctx, site); err != nil {
		return 0, "", err
	}

	if b := site.Status.Bucket; b != nil && b.Name != "" {
		if site.Spec.DeletionPolicy == v1alpha1.DeletionPolicyDelete {
			buckets := []s3bucket.Bucket{{Name: b.Name, Region: b.Region, RegionalDomainName: b.RegionalDomainName}}
			if m := b.Migration; m != nil && m.To != "" && m.To != b.Name && m.Phase != v1alpha1.MigrationPhaseDone {
				// A half-finished migration's target was made by us too.
				buckets = append(buckets, s3bucket.Bucket{Name: m.To, Region: b.Region})
			}
			for _, bk := range buckets {
				if err := r.Buckets.EmptyAndDelete(ctx, bk); err != nil {
					return 0, "", fmt.Errorf("deleting bucket %s: %w", bk.Name, err)
				}
				r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "BucketDeleted", "Delete", "bucket %s emptied and deleted (deletionPolicy Delete)", bk.Name)
			}
		} else {
			r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "BucketRetained", "Delete", "bucket %s kept with its objects (deletionPolicy Retain)", b.Name)
		}
	}
	return 0, "", nil
}

// releaseRecords removes every record the site owns, with its registry record; records of others
// are never touched.
func (r *SecureSiteReconciler) releaseRecords(ctx context.Context, site *v1alpha1.SecureSite) error {
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
	owner := naming.Owner(r.Tenancy.OwnerID, site.Namespace, site.Name)
	for _, o := range []string{owner, owner + challengeOwnerSuffix} {
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

// deleteExport removes the Secrets Manager copy under deletionPolicy Delete (scheduled, with AWS's
// recovery window); under Retain the backend keeps fetching the last certificate.
func (r *SecureSiteReconciler) deleteExport(ctx context.Context, site *v1alpha1.SecureSite) error {
	c := site.Status.Certificate
	ex := site.Spec.Certificate.Export
	if c == nil || c.Export == nil || c.Export.SecretsManagerARN == "" || ex == nil || ex.SecretsManager == nil || r.Exporter == nil {
		return nil
	}
	if site.Spec.DeletionPolicy != v1alpha1.DeletionPolicyDelete {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "ExportRetained", "Delete", "Secrets Manager secret %s kept (deletionPolicy Retain)", c.Export.SecretsManagerARN)
		return nil
	}
	region := ex.SecretsManager.Region
	if region == "" {
		region = r.Defaults.Region
	}
	if err := r.Exporter.Delete(ctx, region, ex.SecretsManager.Name, naming.Owner(r.Tenancy.OwnerID, site.Namespace, site.Name)); err != nil {
		return fmt.Errorf("deleting Secrets Manager secret %s: %w", ex.SecretsManager.Name, err)
	}
	r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "ExportDeleted", "Delete", "Secrets Manager secret %s scheduled for deletion", c.Export.SecretsManagerARN)
	c.Export = nil
	return nil
}
