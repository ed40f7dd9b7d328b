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

// desiredDistribution is the distribution the spec asks for, as a value.
func desiredDistribution(site *v1alpha1.SecureSite, origin s3bucket.Bucket, oacID, certARN string, tags map[string]string) cdn.Desired {
	ss := site.Spec.StaticSite
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
		// Empty (an object made before the CRD default) takes the cdn package's default.
		DefaultRootObject: ss.IndexDocument,
		SPAFallback:       ss.SPAFallback,
		PriceClass:        string(ss.PriceClassOrDefault()),
		Enabled:           true,
		Tags:              tags,
	}
}

func oacName(site *v1alpha1.SecureSite) string {
	n := "securesite-" + site.Namespace + "-" + site.Name
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// reconcileDistribution keeps the CloudFront distribution serving the bucket the bucket phase
// chose, with the ACM certificate; it tells the phases after it (origin, DNS) the distribution's
// ARN and CloudFront name.
func (r *SecureSiteReconciler) reconcileDistribution(ctx context.Context, s *scope) error {
	site, o := s.site, &s.distribution
	if s.skipWithoutStaticSite(&o.phaseObservation) {
		return nil
	}
	// Until CloudFront is read below, the alias records keep pointing where status says.
	if st := site.Status.Distribution; st != nil {
		o.domainName = st.DomainName
	}
	if ready, reason, msg := distributionPrerequisites(s); !ready {
		o.set(false, reason, msg)
		return nil
	}
	if !s.mayWrite(&o.phaseObservation, "ensure the distribution serves bucket "+s.bucket.origin().Name) {
		return nil
	}
	if site.Status.Distribution == nil {
		site.Status.Distribution = &v1alpha1.DistributionStatus{}
	}
	st := site.Status.Distribution
	dist, err := r.ensureDistribution(ctx, s)
	if err != nil {
		return err
	}
	st.ID, st.ARN, st.DomainName, st.Status, st.ETag, st.Origin = dist.ID, dist.ARN, dist.DomainName, dist.Status, dist.ETag, s.bucket.origin().Name
	o.domainName, o.arn, o.origin, o.deployed = dist.DomainName, dist.ARN, st.Origin, dist.Status == "Deployed"
	if !o.deployed {
		o.set(false, v1alpha1.ReasonDeploying, fmt.Sprintf("distribution %s is %s; CloudFront takes a few minutes to deploy", dist.ID, dist.Status))
		s.waitFor(deployWait)
		return nil
	}
	o.set(true, v1alpha1.ReasonDeployed, fmt.Sprintf("distribution %s (%s) deployed from bucket %s", dist.ID, dist.DomainName, st.Origin))
	return r.retireACM(ctx, s)
}

// distributionPrerequisites says what the distribution still waits for: a bucket to serve and a
// certificate in ACM.
func distributionPrerequisites(s *scope) (ready bool, reason, message string) {
	if s.bucket.origin().Name == "" {
		return false, v1alpha1.ReasonProgressing, "waiting for the bucket"
	}
	if !s.acm.imported {
		msg := "waiting for the certificate to be imported into ACM"
		if s.acm.message != "" {
			msg += ": " + s.acm.message
		}
		return false, v1alpha1.ReasonWaitingForCert, msg
	}
	return true, "", ""
}

// ensureDistribution creates the distribution or updates it in place to the desired config.
func (r *SecureSiteReconciler) ensureDistribution(ctx context.Context, s *scope) (cdn.Distribution, error) {
	site, st := s.site, s.site.Status.Distribution
	if st.OriginAccessControlID == "" {
		id, err := r.Distributions.EnsureOAC(ctx, oacName(site))
		if err != nil {
			return cdn.Distribution{}, fmt.Errorf("ensuring origin access control: %w", err)
		}
		st.OriginAccessControlID = id
	}
	desired := desiredDistribution(site, s.bucket.origin(), st.OriginAccessControlID, s.acm.arn, s.ownerTags())
	dist, changes, err := r.Distributions.Ensure(ctx, st.ID, desired)
	if err != nil {
		return dist, fmt.Errorf("ensuring distribution: %w", err)
	}
	if st.ID == "" {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "DistributionCreated", "EnsureDistribution", "distribution %s (%s) serves %s", dist.ID, dist.DomainName, strings.Join(siteAliases(site), ", "))
	} else if len(changes) > 0 {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "DistributionUpdated", "EnsureDistribution", "distribution %s updated in place: %s", dist.ID, strings.Join(changes, "; "))
	}
	return dist, nil
}
