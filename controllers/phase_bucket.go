package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/s3bucket"
)

// copyBudget bounds one pass of a bucket migration, so progress reaches status (and survives a
// restart) regularly and a worker is not held for minutes. Variables only so that tests can
// shrink a pass enough to restart the controller in the middle of a copy.
var (
	copyBudget         = 20 * time.Second
	copyPageSize int32 = 1000
)

// desiredBucket is the bucket the spec asks for: its name (default derived from the domain) and region.
func (r *SecureSiteReconciler) desiredBucket(site *v1alpha1.SecureSite) (name, region string) {
	ss := site.Spec.StaticSite
	name = ss.Bucket
	if name == "" {
		name = naming.DefaultBucketName(site.Spec.Domain)
	}
	region = ss.Region
	if region == "" {
		region = r.Defaults.Region
	}
	return name, region
}

// reconcileBucket makes the site's bucket exist with its owner tag and public access blocked, and
// moves the objects when the bucket is renamed. The bucket policy needs the distribution's ARN, so
// the distribution phase writes it.
func (r *SecureSiteReconciler) reconcileBucket(ctx context.Context, s *scope) error {
	site := s.site
	if site.Spec.StaticSite == nil {
		s.bucket.skipped = true
		return nil
	}
	name, region := r.desiredBucket(site)
	if problems := naming.BucketNameProblems(name); len(problems) > 0 {
		return stalled(v1alpha1.ReasonInvalidSpec, "bucket %q: %s", name, strings.Join(problems, "; "))
	}
	st := site.Status.Bucket
	if st == nil {
		st = &v1alpha1.BucketStatus{}
		site.Status.Bucket = st
	}
	if site.Spec.Suspend {
		s.bucket.reason, s.bucket.message = v1alpha1.ReasonSuspended, "suspended; bucket "+name+" not checked"
		return nil
	}
	target, created, err := r.Buckets.Ensure(ctx, name, region, s.ownerTags())
	if errors.Is(err, s3bucket.ErrOwnedElsewhere) {
		s.bucket.reason = v1alpha1.ReasonBucketOwnedElsewhere
		s.bucket.message = fmt.Sprintf("bucket %s exists and its %s tag does not name %s; it is not adopted (choose another bucket name, or tag it %s=%s to adopt it)",
			name, naming.TagOwner, s.owner, naming.TagOwner, s.owner)
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonBucketOwnedElsewhere, "EnsureBucket", s.bucket.message)
		s.waitFor(ownedElsewhereWait)
		return nil
	}
	if err != nil {
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonAWSError, "EnsureBucket", "bucket %s: %v", name, err)
		return fmt.Errorf("ensuring bucket %s: %w", name, err)
	}
	if created {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "BucketCreated", "EnsureBucket", "created bucket %s in %s with public access blocked", name, region)
	}

	// First bucket, or the same one: nothing to move.
	if st.Name == "" || st.Name == name {
		st.Name, st.Region, st.RegionalDomainName = target.Name, target.Region, target.RegionalDomainName
		// A finished migration stays in status as the record of what was copied; one that was
		// under way is abandoned (the spec went back to the bucket being served).
		if st.Migration != nil && (st.Migration.Phase != v1alpha1.MigrationPhaseDone || st.Migration.To != name) {
			st.Migration = nil
		}
		s.bucket.ready, s.bucket.reason, s.bucket.message = true, v1alpha1.ReasonReconciled, fmt.Sprintf("bucket %s in %s", name, target.Region)
		return nil
	}
	return r.migrateBucket(ctx, s, target)
}

// migrateBucket copies every object from the bucket the distribution serves (status.bucket) into
// the renamed one, then hands over to the distribution phase to switch the origin. The old bucket
// is only touched after the switch is deployed.
func (r *SecureSiteReconciler) migrateBucket(ctx context.Context, s *scope, target s3bucket.Bucket) error {
	site, st := s.site, s.site.Status.Bucket
	from := s3bucket.Bucket{Name: st.Name, Region: st.Region, RegionalDomainName: st.RegionalDomainName}
	m := st.Migration
	if m == nil || m.To != target.Name {
		total, err := r.Buckets.CountObjects(ctx, from)
		if err != nil {
			return fmt.Errorf("counting objects in %s: %w", from.Name, err)
		}
		m = &v1alpha1.MigrationStatus{From: from.Name, To: target.Name, TotalObjects: total, Phase: v1alpha1.MigrationPhaseCopying}
		st.Migration = m
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, v1alpha1.ReasonMigrating, "MigrateBucket",
			"bucket renamed: copying %d object(s) from %s to %s", total, from.Name, target.Name)
	}
	s.bucket.reason = v1alpha1.ReasonMigrating
	if m.Phase == v1alpha1.MigrationPhaseCopying {
		deadline := time.Now().Add(copyBudget)
		for time.Now().Before(deadline) {
			copied, next, done, err := r.Buckets.CopyPage(ctx, from, target, m.LastKey, copyPageSize)
			m.CopiedObjects += int64(copied)
			m.LastKey = next
			if err != nil {
				return fmt.Errorf("copying objects from %s to %s: %w", from.Name, target.Name, err)
			}
			if done {
				m.Phase = v1alpha1.MigrationPhaseSwitching
				r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, v1alpha1.ReasonMigrating, "MigrateBucket",
					"copied %d object(s) to %s; switching the CloudFront origin", m.CopiedObjects, target.Name)
				break
			}
		}
		if m.Phase == v1alpha1.MigrationPhaseCopying {
			s.waitFor(time.Second)
		}
	}
	s.bucket.message = fmt.Sprintf("migrating from %s to %s: %s, %d object(s) copied (%d listed at start)",
		m.From, m.To, strings.ToLower(m.Phase), m.CopiedObjects, m.TotalObjects)
	s.bucket.migrationTarget = &target
	return nil
}

// finishMigration runs once the distribution serves from the new bucket: the status now names it,
// and the old bucket is deleted only under deletionPolicy Delete.
func (r *SecureSiteReconciler) finishMigration(ctx context.Context, s *scope) error {
	site, st := s.site, s.site.Status.Bucket
	target := s.bucket.migrationTarget
	old := s3bucket.Bucket{Name: st.Name, Region: st.Region, RegionalDomainName: st.RegionalDomainName}
	if site.Spec.DeletionPolicy == v1alpha1.DeletionPolicyDelete {
		if err := r.Buckets.EmptyAndDelete(ctx, old); err != nil {
			return fmt.Errorf("deleting old bucket %s: %w", old.Name, err)
		}
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "BucketDeleted", "MigrateBucket", "old bucket %s emptied and deleted (deletionPolicy Delete)", old.Name)
	} else {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "BucketRetained", "MigrateBucket", "old bucket %s kept with its objects (deletionPolicy Retain)", old.Name)
	}
	st.Name, st.Region, st.RegionalDomainName = target.Name, target.Region, target.RegionalDomainName
	st.Migration.Phase = v1alpha1.MigrationPhaseDone
	s.bucket.ready, s.bucket.reason = true, v1alpha1.ReasonReconciled
	s.bucket.message = fmt.Sprintf("bucket %s in %s (migrated from %s, %d object(s) copied)", target.Name, target.Region, old.Name, st.Migration.CopiedObjects)
	return nil
}
