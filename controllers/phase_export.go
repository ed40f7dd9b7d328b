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
	ex := site.Spec.Certificate.Export
	if ex == nil || ex.SecretsManager == nil {
		s.export.skipped = true
		return nil
	}
	if r.Exporter == nil {
		s.export.reason, s.export.message = v1alpha1.ReasonNotSupported, "Secrets Manager export is not configured in this controller"
		return nil
	}
	sm := ex.SecretsManager
	st := site.Status.Certificate
	if s.cert.parsed == nil || s.cert.state != certValid {
		s.export.reason, s.export.message = v1alpha1.ReasonWaitingForCert, "waiting for the certificate"
		return nil
	}
	if st.Export != nil && st.Export.Serial == s.cert.parsed.SerialHex && st.Export.SecretsManagerARN != "" {
		s.export.ready, s.export.reason = true, v1alpha1.ReasonReconciled
		s.export.message = fmt.Sprintf("certificate %s exported to %s (version %s)", st.Export.Serial, st.Export.SecretsManagerARN, st.Export.VersionID)
		return nil
	}
	if site.Spec.Suspend {
		s.export.reason, s.export.message = v1alpha1.ReasonSuspended, "suspended; would export certificate to Secrets Manager secret "+sm.Name
		return nil
	}
	doc, err := smexport.DocumentFromPEM(s.cert.certPEM, s.cert.keyPEM)
	if err != nil {
		return fmt.Errorf("preparing the export document: %w", err)
	}
	region := sm.Region
	if region == "" {
		region = r.Defaults.Region
	}
	arn, version, changed, err := r.Exporter.Export(ctx, region, sm.Name, sm.KMSKeyID, doc, s.ownerTags())
	if errors.Is(err, smexport.ErrOwnedElsewhere) {
		s.export.reason = v1alpha1.ReasonSecretConflict
		s.export.message = fmt.Sprintf("Secrets Manager secret %s exists and its %s tag does not name %s; not overwritten", sm.Name, naming.TagOwner, s.owner)
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonSecretConflict, "ExportCertificate", s.export.message)
		s.waitFor(ownedElsewhereWait)
		return nil
	}
	if err != nil {
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonAWSError, "ExportCertificate", "Secrets Manager: %v", err)
		return fmt.Errorf("exporting certificate to Secrets Manager: %w", err)
	}
	if changed {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "CertificateExported", "ExportCertificate", "certificate %s written to %s as version %s", doc.Serial, arn, version)
	}
	st.Export = &v1alpha1.ExportStatus{SecretsManagerARN: arn, VersionID: version, Serial: doc.Serial}
	s.export.ready, s.export.reason = true, v1alpha1.ReasonReconciled
	s.export.message = fmt.Sprintf("certificate %s exported to %s (version %s)", doc.Serial, arn, version)
	return nil
}
