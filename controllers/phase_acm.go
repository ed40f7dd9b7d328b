package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// reconcileACM imports the certificate into ACM in us-east-1, where CloudFront requires it, and
// re-imports each renewal to the same ARN so the distribution never has to be repointed.
func (r *SecureSiteReconciler) reconcileACM(ctx context.Context, s *scope) error {
	site := s.site
	if site.Spec.StaticSite == nil {
		s.acm.skipped = true
		return nil
	}
	st := site.Status.Certificate
	p := s.cert.parsed
	if p == nil || st == nil || s.cert.state != certValid {
		s.acm.message = "waiting for the certificate"
		return nil
	}
	if st.ACMCertificateARN != "" && st.ACMImportedSerial == p.SerialHex {
		// Still there? A certificate deleted by hand leaves the distribution pointing at nothing;
		// it is imported anew and the distribution phase repoints to the new ARN.
		exists, err := r.ACM.Exists(ctx, st.ACMCertificateARN)
		if err != nil {
			return fmt.Errorf("checking ACM certificate: %w", err)
		}
		if exists {
			s.acm.imported = true
			return nil
		}
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, "CertificateMissing", "DescribeCertificate", "ACM certificate %s no longer exists; importing the certificate again", st.ACMCertificateARN)
	}
	if site.Spec.Suspend {
		s.acm.message = "suspended; would import certificate " + p.SerialHex + " into ACM"
		return nil
	}
	arn, err := r.ACM.Import(ctx, st.ACMCertificateARN, s.cert.certPEM, s.cert.keyPEM, nil, s.ownerTags())
	if err != nil {
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonAWSError, "ImportCertificate", "ACM import failed: %v", err)
		return fmt.Errorf("importing certificate into ACM: %w", err)
	}
	verb := "re-imported into"
	if arn != st.ACMCertificateARN {
		verb = "imported into new"
		retired := st.ACMRetiredCertificateARN
		if st.ACMCertificateARN != "" && retired == "" {
			// Replaced, not lost: the old certificate stays until the distribution has moved off
			// it (deleting it sooner is refused as in use, and would break the site meanwhile).
			if exists, err := r.ACM.Exists(ctx, st.ACMCertificateARN); err == nil && exists {
				retired = st.ACMCertificateARN
			}
		}
		// ImportCertificate has no idempotency token: a crash before this pass's status patch
		// would import a second, orphaned certificate next time. So the new ARN is recorded at
		// once, on its own (a copy is patched, so the pass's other status changes stay pending).
		patch := fmt.Sprintf(`{"status":{"certificate":{"acmCertificateARN":%q,"acmImportedSerial":%q,"acmRetiredCertificateARN":%q}}}`, arn, p.SerialHex, retired)
		if err := r.Status().Patch(ctx, site.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return fmt.Errorf("recording ACM certificate %s in status: %w", arn, err)
		}
		st.ACMRetiredCertificateARN = retired
	}
	r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "CertificateImported", "ImportCertificate", "certificate %s %s ACM certificate %s", p.SerialHex, verb, arn)
	st.ACMCertificateARN = arn
	st.ACMImportedSerial = p.SerialHex
	s.acm.imported = true
	return nil
}
