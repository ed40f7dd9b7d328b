package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/naming"
	"github.com/securesite-io/securesite/internal/smexport"
)

// reconcileExport copies the certificate to AWS Secrets Manager for backends outside the cluster
// (the EC2 server of the original story fetches it with securesite-agent). Each renewal becomes a
// new secret version; a secret we do not own is never written.
func (r *SecureSiteReconciler) reconcileExport(ctx context.Context, s *scope) error {
	site := s.site
	o := &s.export
	ex := site.Spec.Certificate.Export
	if ex == nil || ex.SecretsManager == nil {
		o.skipped = true
		return nil
	}
	if r.Exporter == nil {
		o.set(false, v1alpha1.ReasonNotSupported, "Secrets Manager export is not configured in this controller")
		return nil
	}
	// Gather: the certificate this pass holds, and what status says was exported.
	sm, st := ex.SecretsManager, site.Status.Certificate
	if !s.cert.usable() {
		o.set(false, v1alpha1.ReasonWaitingForCert, "waiting for the certificate")
		return nil
	}
	// Decide: exported already, or a new version is due.
	if e := st.Export; e != nil && e.Serial == s.cert.parsed.SerialHex && e.SecretsManagerARN != "" {
		o.set(true, v1alpha1.ReasonReconciled, exportedMessage(e))
		return nil
	}
	if !s.mayWrite(o, "export certificate to Secrets Manager secret "+sm.Name) {
		return nil
	}
	// Act.
	doc, err := smexport.DocumentFromPEM(s.cert.certPEM, s.cert.keyPEM)
	if err != nil {
		return fmt.Errorf("preparing the export document: %w", err)
	}
	arn, version, changed, err := r.Exporter.Export(ctx, r.Defaults.region(sm.Region), sm.Name, sm.KMSKeyID, doc, s.ownerTags())
	if errors.Is(err, smexport.ErrOwnedElsewhere) {
		o.set(false, v1alpha1.ReasonSecretConflict, fmt.Sprintf("Secrets Manager secret %s exists and its %s tag does not name %s; not overwritten", sm.Name, naming.TagOwner, s.owner))
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonSecretConflict, "ExportCertificate", o.message)
		s.waitFor(ownedElsewhereWait)
		return nil
	}
	if err != nil {
		return fmt.Errorf("exporting certificate to Secrets Manager: %w", err)
	}
	if changed {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "CertificateExported", "ExportCertificate", "certificate %s written to %s as version %s", doc.Serial, arn, version)
	}
	st.Export = &v1alpha1.ExportStatus{SecretsManagerARN: arn, VersionID: version, Serial: doc.Serial}
	o.set(true, v1alpha1.ReasonReconciled, exportedMessage(st.Export))
	return nil
}

func exportedMessage(e *v1alpha1.ExportStatus) string {
	return fmt.Sprintf("certificate %s exported to %s (version %s)", e.Serial, e.SecretsManagerARN, e.VersionID)
}
