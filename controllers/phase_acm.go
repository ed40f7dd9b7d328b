package controllers

import (
	"context"
	"encoding/pem"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// TagOwner is the tag that marks AWS objects as owned by a SecureSite (<owner id>/<namespace>/<name>).
const TagOwner = "securesite.io/owner"

// TagOwnerID carries the controller's --owner-id alone, so an IAM policy can limit the
// controller to its own objects (aws:ResourceTag/securesite.io/owner-id).
const TagOwnerID = "securesite.io/owner-id"

func ownerTags(s *scope) map[string]string {
	t := map[string]string{TagOwner: s.owner, "securesite.io/domain": s.site.Spec.Domain}
	if s.ownerID != "" {
		t[TagOwnerID] = s.ownerID
	}
	return t
}

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
	leaf, chain := splitChain(s.cert.certPEM)
	arn, err := r.ACM.Import(ctx, st.ACMCertificateARN, leaf, s.cert.keyPEM, chain, ownerTags(s))
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

// splitChain separates the leaf from the rest of a PEM chain (ACM takes them apart).
func splitChain(chainPEM []byte) (leaf, rest []byte) {
	block, remaining := pem.Decode(chainPEM)
	if block == nil {
		return chainPEM, nil
	}
	return pem.EncodeToMemory(block), remaining
}
