package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// reconcileACM imports the certificate into ACM in us-east-1, where CloudFront requires it, and
// re-imports each renewal to the same ARN so the distribution never has to be repointed.
func (r *SecureSiteReconciler) reconcileACM(ctx context.Context, s *scope) error {
	site, o := s.site, &s.acm
	if s.skipWithoutStaticSite(&o.phaseObservation) {
		return nil
	}
	// Gather: the certificate this pass holds, and what status says ACM holds.
	st := site.Status.Certificate
	if !s.cert.usable() || st == nil {
		o.message = "waiting for the certificate"
		return nil
	}
	serial := s.cert.parsed.SerialHex
	// Decide: ACM already holds this certificate, or it must be (re-)imported.
	if st.ACMCertificateARN != "" && st.ACMImportedSerial == serial {
		o.imported, o.arn = true, st.ACMCertificateARN
		return nil
	}
	if !s.mayWrite(&o.phaseObservation, "import certificate "+serial+" into ACM") {
		return nil
	}
	// Act.
	arn, err := r.ACM.Import(ctx, st.ACMCertificateARN, s.cert.certPEM, s.cert.keyPEM, nil, s.ownerTags())
	if err != nil {
		return fmt.Errorf("importing certificate into ACM: %w", err)
	}
	verb := "re-imported into"
	if st.ACMCertificateARN == "" {
		verb = "imported into new"
	}
	st.ACMCertificateARN, st.ACMImportedSerial = arn, serial
	if verb == "imported into new" {
		// ImportCertificate has no idempotency token: a crash before the end of this pass would
		// import a second, orphaned certificate next time. So the new ARN is saved at once.
		if err := s.saveStatus(ctx); err != nil {
			return fmt.Errorf("recording ACM certificate %s in status: %w", arn, err)
		}
	}
	r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "CertificateImported", "ImportCertificate", "certificate %s %s ACM certificate %s", serial, verb, arn)
	o.imported, o.arn = true, arn
	return nil
}
