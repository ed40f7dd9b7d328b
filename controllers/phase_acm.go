package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// acmAction is what the ACM phase does on a pass.
type acmAction int

const (
	// acmKeep: ACM holds this certificate at the ARN in status.
	acmKeep acmAction = iota
	// acmImportNew: there is no certificate in ACM yet, or the one in status was deleted out of
	// band; a new one is imported and the distribution follows its new ARN.
	acmImportNew
	// acmReimport: a renewal, re-imported to the ARN in status (acmimport goes to a new ARN
	// itself when the key's algorithm or size changed).
	acmReimport
)

// decideACM chooses the ACM action from status (arn, importedSerial), the serial of the
// certificate this pass holds, and whether the certificate at arn still exists (gathered only
// when arn is set and the serial is unchanged; a re-import checks for itself).
func decideACM(arn, importedSerial, serial string, exists bool) acmAction {
	switch {
	case arn == "":
		return acmImportNew
	case importedSerial != serial:
		return acmReimport
	case !exists:
		return acmImportNew
	}
	return acmKeep
}

// reconcileACM imports the certificate into ACM in us-east-1, where CloudFront requires it, and
// re-imports each renewal to the same ARN so the distribution never has to be repointed. A
// certificate deleted out of band is noticed on the next pass (one DescribeCertificate) and
// imported anew; the distribution then follows the new ARN.
func (r *SecureSiteReconciler) reconcileACM(ctx context.Context, s *scope) error {
	site, o := s.site, &s.acm
	if s.skipWithoutStaticSite(&o.phaseObservation) {
		return nil
	}
	// Gather: the certificate this pass holds, what status says ACM holds, and whether ACM
	// still has it.
	st := site.Status.Certificate
	if !s.cert.usable() || st == nil {
		o.message = "waiting for the certificate"
		return nil
	}
	serial := s.cert.parsed.SerialHex
	exists := true
	if st.ACMCertificateARN != "" && st.ACMImportedSerial == serial {
		var err error
		if exists, err = r.ACM.Exists(ctx, st.ACMCertificateARN); err != nil {
			return err
		}
	}
	// Decide.
	action := decideACM(st.ACMCertificateARN, st.ACMImportedSerial, serial, exists)
	if action == acmKeep {
		o.imported, o.arn = true, st.ACMCertificateARN
		return nil
	}
	what := "import certificate " + serial + " into ACM"
	if st.ACMCertificateARN != "" && action == acmImportNew {
		what = "import certificate " + serial + " into ACM anew: ACM certificate " + st.ACMCertificateARN + " was deleted"
	}
	if !s.mayWrite(&o.phaseObservation, what) {
		return nil
	}
	// Act.
	previous, importARN := st.ACMCertificateARN, st.ACMCertificateARN
	if action == acmImportNew {
		importARN = ""
	}
	arn, err := r.ACM.Import(ctx, importARN, s.cert.certPEM, s.cert.keyPEM, nil, s.ownerTags())
	if err != nil {
		return fmt.Errorf("importing certificate into ACM: %w", err)
	}
	verb := "re-imported into"
	if arn != previous {
		verb = "imported into new"
	}
	st.ACMCertificateARN, st.ACMImportedSerial = arn, serial
	if arn != previous {
		// ImportCertificate has no idempotency token: a crash before the end of this pass would
		// import a second, orphaned certificate next time. So the new ARN is saved at once.
		if err := s.saveStatus(ctx); err != nil {
			return fmt.Errorf("recording ACM certificate %s in status: %w", arn, err)
		}
	}
	if previous != "" && action == acmImportNew {
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, "CertificateReimported", "ImportCertificate", "ACM certificate %s was deleted out of band: certificate %s imported into new ACM certificate %s", previous, serial, arn)
	} else {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "CertificateImported", "ImportCertificate", "certificate %s %s ACM certificate %s", serial, verb, arn)
	}
	o.imported, o.arn = true, arn
	return nil
}
