package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/acmimport"
	"github.com/securesite-io/securesite/internal/naming"
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
	st := site.Status.Certificate
	carryOverRetiredACM(st)
	if s.skipWithoutStaticSite(&o.phaseObservation) {
		return nil
	}
	// Gather: the certificate this pass holds, what status says ACM holds, and whether ACM
	// still has it.
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
	if retirementsFull(action, len(st.ACMRetiredCertificateARNs)) {
		o.imported, o.arn = true, st.ACMCertificateARN
		o.message = fmt.Sprintf("certificate %s waits for %d replaced ACM certificates to be deleted once the distribution is Deployed", serial, len(st.ACMRetiredCertificateARNs))
		s.waitFor(deployWait)
		return nil
	}
	what := "import certificate " + serial + " into ACM"
	if st.ACMCertificateARN != "" && action == acmImportNew {
		what = "import certificate " + serial + " into ACM anew: ACM certificate " + st.ACMCertificateARN + " was deleted"
	}
	if !s.mayWrite(&o.phaseObservation, what) {
		return nil
	}
	return r.importACM(ctx, s, action, serial)
}

// importACM is the ACM phase's act: it imports the certificate (anew, or re-imported to the ARN in
// status), records the ARN, and for a certificate a new key sent to a new ARN, the one it retires.
func (r *SecureSiteReconciler) importACM(ctx context.Context, s *scope, action acmAction, serial string) error {
	st := s.site.Status.Certificate
	previous, importARN := st.ACMCertificateARN, st.ACMCertificateARN
	if action == acmImportNew {
		importARN = ""
	}
	arn, err := r.ACM.Import(ctx, importARN, s.cert.certPEM, s.cert.keyPEM, nil, s.ownerTags())
	if err != nil {
		return fmt.Errorf("importing certificate into ACM: %w", err)
	}
	st.ACMCertificateARN, st.ACMImportedSerial = arn, serial
	if previous != "" && arn != previous && action == acmReimport && !slices.Contains(st.ACMRetiredCertificateARNs, previous) {
		// A new key algorithm or size: the replaced certificate is deleted once the distribution
		// has moved off it (see retireACM). Ones still waiting from earlier key changes stay in
		// the list: the distribution may still serve any of them until it is Deployed.
		st.ACMRetiredCertificateARNs = append(st.ACMRetiredCertificateARNs, previous)
	}
	if arn != previous {
		// ImportCertificate has no idempotency token: a crash before the end of this pass would
		// import a second, orphaned certificate next time. So the new ARN is saved at once.
		if err := s.saveStatus(ctx); err != nil {
			return fmt.Errorf("recording ACM certificate %s in status: %w", arn, err)
		}
	}
	switch {
	case previous != "" && action == acmImportNew:
		r.Recorder.Eventf(s.site, nil, corev1.EventTypeWarning, "CertificateReimported", "ImportCertificate", "ACM certificate %s was deleted out of band: certificate %s imported into new ACM certificate %s", previous, serial, arn)
	case arn != previous:
		r.Recorder.Eventf(s.site, nil, corev1.EventTypeNormal, "CertificateImported", "ImportCertificate", "certificate %s imported into new ACM certificate %s", serial, arn)
	default:
		r.Recorder.Eventf(s.site, nil, corev1.EventTypeNormal, "CertificateImported", "ImportCertificate", "certificate %s re-imported into ACM certificate %s", serial, arn)
	}
	s.acm.imported, s.acm.arn = true, arn
	return nil
}

// retirementsFull says whether the ACM phase must wait for replaced certificates to be deleted
// before it acts: a re-import may go to a new ARN (a new key), whose predecessor would have no
// room in status and be left behind in ACM. The distribution keeps the current certificate until
// retireACM, once it is Deployed, makes room.
func retirementsFull(action acmAction, retired int) bool {
	return action == acmReimport && retired >= v1alpha1.MaxRetiredACMCertificates
}

// carryOverRetiredACM moves the replaced certificate an earlier version kept in the single
// status field into the list, so an upgrade in the middle of a retirement does not forget it.
func carryOverRetiredACM(st *v1alpha1.CertificateStatus) {
	if st == nil || st.ACMRetiredCertificateARN == "" {
		return
	}
	if !slices.Contains(st.ACMRetiredCertificateARNs, st.ACMRetiredCertificateARN) {
		st.ACMRetiredCertificateARNs = append(st.ACMRetiredCertificateARNs, st.ACMRetiredCertificateARN)
	}
	st.ACMRetiredCertificateARN = ""
}

// decideRetireACM says whether a replaced ACM certificate may be deleted now: only once the
// distribution, brought to the current certificate by this pass, reports Deployed. Until then
// CloudFront may still serve any certificate it was given before, not only the last one.
func decideRetireACM(retired, current string, deployed bool) bool {
	return retired != "" && retired != current && deployed
}

// retireACM deletes the certificates new keys replaced once the distribution serves the current
// one and is Deployed, each only when its owner tag names this site. AWS may still count one as
// in use for a while (ErrInUse): a wait, not a failure; it stays in the list for the next pass.
func (r *SecureSiteReconciler) retireACM(ctx context.Context, s *scope) error {
	st := s.site.Status.Certificate
	if st == nil || len(st.ACMRetiredCertificateARNs) == 0 {
		return nil
	}
	var waiting, deleted []string
	var err error
	for _, retired := range st.ACMRetiredCertificateARNs {
		done, gone := true, false
		switch {
		case retired == s.acm.arn:
			// Served again (found by its tags on import): not retired any more.
		case err != nil || !decideRetireACM(retired, s.acm.arn, s.distribution.deployed):
			done = false
		default:
			done, gone, err = r.retireACMCertificate(ctx, s, retired)
		}
		if !done {
			waiting = append(waiting, retired)
		}
		if gone {
			deleted = append(deleted, retired)
		}
	}
	st.ACMRetiredCertificateARNs = waiting
	if len(deleted) > 0 {
		// One event for the pass: repeats of an event on a site fold into the first one's series.
		r.Recorder.Eventf(s.site, nil, corev1.EventTypeNormal, "CertificateDeleted", "Delete", "replaced %s deleted; the distribution serves %s", acmCertificates(deleted), s.acm.arn)
	}
	return err
}

// retireACMCertificate deletes one replaced certificate. done says it is out of the site's hands
// (deleted, already gone, or another owner's and left alone); deleted, that this call deleted it.
func (r *SecureSiteReconciler) retireACMCertificate(ctx context.Context, s *scope, arn string) (done, deleted bool, err error) {
	// Status is not proof of ownership: the owner tag is read back before the deletion.
	owner, found, err := r.ACM.Owner(ctx, arn, naming.TagOwner)
	switch {
	case err != nil:
		return false, false, err
	case !found:
		return true, false, nil
	case owner != s.owner:
		r.Recorder.Eventf(s.site, nil, corev1.EventTypeWarning, v1alpha1.ReasonNotPermitted, "Delete", "replaced ACM certificate %s is tagged for %q, not %s: left alone", arn, owner, s.owner)
		return true, false, nil
	}
	err = r.ACM.Delete(ctx, arn)
	if errors.Is(err, acmimport.ErrInUse) {
		s.waitFor(deployWait)
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("deleting replaced ACM certificate %s: %w", arn, err)
	}
	return true, true, nil
}

// acmCertificates names certificates in an event: "ACM certificate A" or "ACM certificates A, B".
func acmCertificates(arns []string) string {
	if len(arns) == 1 {
		return "ACM certificate " + arns[0]
	}
	return "ACM certificates " + strings.Join(arns, ", ")
}
