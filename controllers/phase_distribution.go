package controllers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/cdn"
	"github.com/securesite-io/securesite/internal/s3bucket"
)

// distributionOriginID stays the same across bucket renames, so a migration repoints the origin
// in place instead of rewriting the cache behaviour.
const distributionOriginID = "securesite-bucket"

// desiredDistribution is the distribution the spec asks for, as a value.
func desiredDistribution(site *v1alpha1.SecureSite, origin s3bucket.Bucket, oacID, certARN string, tags map[string]string) cdn.Desired {
	ss := site.Spec.StaticSite
	index := ss.IndexDocument
	if index == "" {
		index = "index.html"
	}
	price := string(ss.PriceClass)
	if price == "" {
		price = "PriceClass_100"
	}
	return cdn.Desired{
		// The UID makes creation idempotent: a crash between create and status patch finds the
		// same distribution again instead of making a second one.
		CallerReference:   "securesite-" + string(site.UID),
		Comment:           fmt.Sprintf("SecureSite %s/%s", site.Namespace, site.Name),
		Aliases:           siteAliases(site),
		OriginDomain:      origin.RegionalDomainName,
		OriginID:          distributionOriginID,
		OACID:             oacID,
		ACMCertificateARN: certARN,
		DefaultRootObject: index,
		SPAFallback:       ss.SPAFallback,
		PriceClass:        price,
		Enabled:           true,
		Tags:              tags,
	}
}

// siteAliases are the names CloudFront serves: the domain and the additional names that are not
// wildcards (a wildcard cannot be an alias record).
func siteAliases(site *v1alpha1.SecureSite) []string {
	names := []string{site.Spec.Domain}
	for _, n := range site.Spec.Certificate.AdditionalDNSNames {
		if !strings.HasPrefix(n, "*.") {
			names = append(names, n)
		}
	}
	return names
}

func oacName(site *v1alpha1.SecureSite) string {
	n := "securesite-" + site.Namespace + "-" + site.Name
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

func (r *SecureSiteReconciler) reconcileDistribution(ctx context.Context, s *scope) error {
	site := s.site
	if site.Spec.StaticSite == nil {
		s.distribution.skipped = true
		return nil
	}
	o := &s.distribution
	bst := site.Status.Bucket
	if bst == nil || bst.Name == "" {
		o.reason, o.message = v1alpha1.ReasonProgressing, "waiting for the bucket"
		return nil
	}
	st := site.Status.Distribution
	if st == nil {
		st = &v1alpha1.DistributionStatus{}
		site.Status.Distribution = st
	}
	if site.Spec.Suspend {
		o.reason, o.message = v1alpha1.ReasonSuspended, "suspended; distribution not checked"
		return nil
	}
	certARN := ""
	if site.Status.Certificate != nil && s.acm.imported {
		certARN = site.Status.Certificate.ACMCertificateARN
	}
	if certARN == "" {
		o.reason, o.message = v1alpha1.ReasonWaitingForCert, "waiting for the certificate to be imported into ACM"
		if s.acm.message != "" {
			o.message += ": " + s.acm.message
		}
		return nil
	}
	if st.OriginAccessControlID == "" {
		id, err := r.Distributions.EnsureOAC(ctx, oacName(site))
		if err != nil {
			return fmt.Errorf("ensuring origin access control: %w", err)
		}
		st.OriginAccessControlID = id
	}

	origin := s3bucket.Bucket{Name: bst.Name, Region: bst.Region, RegionalDomainName: bst.RegionalDomainName}
	target := s.bucket.migrationTarget
	switching := target != nil && bst.Migration != nil && bst.Migration.Phase == v1alpha1.MigrationPhaseSwitching
	if switching {
		origin = *target
	}

	dist, changes, err := r.Distributions.Ensure(ctx, st.ID, desiredDistribution(site, origin, st.OriginAccessControlID, certARN, s.ownerTags()))
	if err != nil {
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonAWSError, "EnsureDistribution", "CloudFront: %v", err)
		return fmt.Errorf("ensuring distribution: %w", err)
	}
	if st.ID == "" {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "DistributionCreated", "EnsureDistribution", "distribution %s (%s) serves %s", dist.ID, dist.DomainName, strings.Join(siteAliases(site), ", "))
	} else if len(changes) > 0 {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "DistributionUpdated", "EnsureDistribution", "distribution %s updated in place: %s", dist.ID, strings.Join(changes, "; "))
	}
	prevDomain := st.DomainName
	st.ID, st.ARN, st.DomainName, st.Status, st.ETag, st.Origin = dist.ID, dist.ARN, dist.DomainName, dist.Status, dist.ETag, origin.Name
	if dist.DomainName != prevDomain {
		// The DNS phase ran before this distribution name was known, so the alias records are
		// written now, in the same pass: otherwise Ready would report a site whose name does not
		// lead to its distribution until the next resync.
		s.dns = dnsObservation{}
		if err := r.reconcileDNS(ctx, s); err != nil {
			return err
		}
	}

	// Only this distribution may read the bucket (OAC: the policy names its ARN). During a
	// migration the new bucket gets the same policy before the origin is switched to it.
	if err := r.Buckets.EnsurePolicy(ctx, origin, dist.ARN); err != nil {
		return fmt.Errorf("writing bucket policy of %s: %w", origin.Name, err)
	}
	if target != nil && !switching {
		if err := r.Buckets.EnsurePolicy(ctx, *target, dist.ARN); err != nil {
			return fmt.Errorf("writing bucket policy of %s: %w", target.Name, err)
		}
	}

	if dist.Status != "Deployed" {
		o.reason, o.message = v1alpha1.ReasonDeploying, fmt.Sprintf("distribution %s is %s; CloudFront takes a few minutes to deploy", dist.ID, dist.Status)
		s.waitFor(deployWait)
		return nil
	}
	if switching {
		// The origin switch is deployed: only now may the old bucket be touched.
		if err := r.finishMigration(ctx, s); err != nil {
			return err
		}
	}
	o.ready, o.reason = true, v1alpha1.ReasonDeployed
	o.message = fmt.Sprintf("distribution %s (%s) deployed from bucket %s", dist.ID, dist.DomainName, origin.Name)
	return nil
}
