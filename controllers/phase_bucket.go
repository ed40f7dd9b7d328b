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

// The bucket's life in two phases, around the distribution phase: reconcileBucket makes the
// bucket the spec names and copies the objects when it is renamed (Copying → Switching); the
// distribution then serves from it; reconcileOrigin lets only that distribution read it and,
// once the switched distribution is deployed, retires the old bucket (Switching → Done).

// desiredBucket is the bucket the spec asks for: its name (default derived from the domain) and region.
func (r *SecureSiteReconciler) desiredBucket(site *v1alpha1.SecureSite) (name, region string) {
	ss := site.Spec.StaticSite
	name = ss.Bucket
	if name == "" {
		name = naming.DefaultBucketName(site.Spec.Domain)
	}
	return name, r.Defaults.region(ss.Region)
}

func bucketOf(st *v1alpha1.BucketStatus) s3bucket.Bucket {
	return s3bucket.Bucket{Name: st.Name, Region: st.Region, RegionalDomainName: st.RegionalDomainName}
}

// reconcileBucket makes the site's bucket exist with its owner tag and public access blocked, and
// moves the objects when the bucket is renamed.
func (r *SecureSiteReconciler) reconcileBucket(ctx context.Context, s *scope) error {
	site, o := s.site, &s.bucket
	if s.skipWithoutStaticSite(&o.phaseObservation) {
		return nil
	}
	name, region := r.desiredBucket(site)
	if problems := naming.BucketNameProblems(name); len(problems) > 0 {
		return stalled(v1alpha1.ReasonInvalidSpec, "bucket %q: %s", name, strings.Join(problems, "; "))
	}
	if site.Status.Bucket == nil {
		site.Status.Bucket = &v1alpha1.BucketStatus{}
	}
	st := site.Status.Bucket
	o.serving = bucketOf(st)
	// Ensure both observes and creates (S3 has no read that says "would be adopted"), so a dry
	// run stops before it.
	if !s.mayWrite(&o.phaseObservation, "ensure bucket "+name+" in "+region) {
		return nil
	}
	target, err := r.ensureBucket(ctx, s, name, region)
	if err != nil || o.reason != "" {
		return err
	}
	// First bucket, or the same one: nothing to move.
	if st.Name == "" || st.Name == name {
		st.Name, st.Region, st.RegionalDomainName = target.Name, target.Region, target.RegionalDomainName
		// A finished migration stays in status as the record of what was copied; one that was
		// under way is abandoned (the spec went back to the bucket being served).
		if st.Migration != nil && (st.Migration.Phase != v1alpha1.MigrationPhaseDone || st.Migration.To != name) {
			st.Migration = nil
		}
		o.serving = target
		o.set(true, v1alpha1.ReasonReconciled, fmt.Sprintf("bucket %s in %s", name, target.Region))
		return nil
	}
	return r.migrateBucket(ctx, s, target)
}

// ensureBucket creates or adopts the bucket; one that someone else owns is reported, not adopted.
func (r *SecureSiteReconciler) ensureBucket(ctx context.Context, s *scope, name, region string) (s3bucket.Bucket, error) {
	site, o := s.site, &s.bucket
	target, created, err := r.Buckets.Ensure(ctx, name, region, s.ownerTags())
	if errors.Is(err, s3bucket.ErrOwnedElsewhere) {
		o.set(false, v1alpha1.ReasonBucketOwnedElsewhere, fmt.Sprintf("bucket %s exists and its %s tag does not name %s; it is not adopted (choose another bucket name, or tag it %s=%s to adopt it)",
			name, naming.TagOwner, s.owner, naming.TagOwner, s.owner))
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonBucketOwnedElsewhere, "EnsureBucket", o.message)
		s.waitFor(ownedElsewhereWait)
		return target, nil
	}
	if err != nil {
		return target, fmt.Errorf("ensuring bucket %s: %w", name, err)
	}
	if created {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "BucketCreated", "EnsureBucket", "created bucket %s in %s with public access blocked", name, region)
	}
	return target, nil
}

// migrateBucket copies every object from the bucket the distribution serves (status.bucket) into
// the renamed one; once all are copied the distribution phase switches the origin. The old bucket
// is only touched after the switch is deployed (reconcileOrigin).
func (r *SecureSiteReconciler) migrateBucket(ctx context.Context, s *scope, target s3bucket.Bucket) error {
	site, st, o := s.site, s.site.Status.Bucket, &s.bucket
	from := bucketOf(st)
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
	if m.Phase == v1alpha1.MigrationPhaseCopying {
		if err := r.copyObjects(ctx, s, from, target); err != nil {
			return err
		}
	}
	o.set(false, v1alpha1.ReasonMigrating, fmt.Sprintf("migrating from %s to %s: %s, %d object(s) copied (%d listed at start)",
		m.From, m.To, strings.ToLower(m.Phase), m.CopiedObjects, m.TotalObjects))
	o.migrationTarget = &target
	o.switching = m.Phase == v1alpha1.MigrationPhaseSwitching
	return nil
}

// copyObjects copies pages of objects for at most copyBudget, recording progress in status.
func (r *SecureSiteReconciler) copyObjects(ctx context.Context, s *scope, from, target s3bucket.Bucket) error {
	m := s.site.Status.Bucket.Migration
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
			r.Recorder.Eventf(s.site, nil, corev1.EventTypeNormal, v1alpha1.ReasonMigrating, "MigrateBucket",
				"copied %d object(s) to %s; switching the CloudFront origin", m.CopiedObjects, target.Name)
			return nil
		}
	}
	s.waitFor(time.Second)
	return nil
}

// reconcileOrigin runs after the distribution phase, which says which distribution serves the
// site. Only that distribution may read the bucket (OAC: the policy names its ARN); during a
// migration the new bucket gets the same policy before the origin is switched to it. Once the
// switched distribution is deployed, the old bucket is retired.
func (r *SecureSiteReconciler) reconcileOrigin(ctx context.Context, s *scope) error {
	b, d := &s.bucket, &s.distribution
	if s.site.Spec.StaticSite == nil || d.arn == "" {
		return nil
	}
	origin := b.origin()
	if err := r.Buckets.EnsurePolicy(ctx, origin, d.arn); err != nil {
		return fmt.Errorf("writing bucket policy of %s: %w", origin.Name, err)
	}
	if b.migrationTarget != nil && !b.switching {
		if err := r.Buckets.EnsurePolicy(ctx, *b.migrationTarget, d.arn); err != nil {
			return fmt.Errorf("writing bucket policy of %s: %w", b.migrationTarget.Name, err)
		}
	}
	if b.switching && d.deployed && d.origin == origin.Name {
		return r.finishMigration(ctx, s)
	}
	return nil
}

// finishMigration runs once the distribution serves from the new bucket: the status now names it,
// and the old bucket is deleted only under deletionPolicy Delete.
func (r *SecureSiteReconciler) finishMigration(ctx context.Context, s *scope) error {
	site, st := s.site, s.site.Status.Bucket
	target := *s.bucket.migrationTarget
	old := bucketOf(st)
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
	s.bucket.serving, s.bucket.migrationTarget, s.bucket.switching = target, nil, false
	s.bucket.set(true, v1alpha1.ReasonReconciled, fmt.Sprintf("bucket %s in %s (migrated from %s, %d object(s) copied)", target.Name, target.Region, old.Name, st.Migration.CopiedObjects))
	return nil
}
