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
		s.acm.imported = true
		return nil
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
	if st.ACMCertificateARN == "" {
		verb = "imported into new"
		// ImportCertificate has no idempotency token: a crash before this pass's status patch
		// would import a second, orphaned certificate next time. So the new ARN is recorded at
		// once, on its own (a copy is patched, so the pass's other status changes stay pending).
		patch := fmt.Sprintf(`{"status":{"certificate":{"acmCertificateARN":%q,"acmImportedSerial":%q}}}`, arn, p.SerialHex)
		if err := r.Status().Patch(ctx, site.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return fmt.Errorf("recording ACM certificate %s in status: %w", arn, err)
		}
	}
	r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "CertificateImported", "ImportCertificate", "certificate %s %s ACM certificate %s", p.SerialHex, verb, arn)
	st.ACMCertificateARN = arn
	st.ACMImportedSerial = p.SerialHex
	s.acm.imported = true
	return nil
}
