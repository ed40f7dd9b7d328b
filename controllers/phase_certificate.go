package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/certs"
	"github.com/securesite-io/securesite/internal/naming"
)

// selfSignedValidity is short on purpose: dev certificates should exercise renewal.
const selfSignedValidity = 30 * 24 * time.Hour

// certificateNames are the names on the certificate: domain first (the subject), then the backend
// and the additional names, without duplicates.
func certificateNames(site *v1alpha1.SecureSite) []string {
	names := []string{site.Spec.Domain}
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if site.Spec.Backend != nil {
		add(site.Spec.Backend.Hostname)
	}
	for _, n := range site.Spec.Certificate.AdditionalDNSNames {
		add(n)
	}
	return names
}

// keySpec is the key the spec asks for; a size left out is the algorithm's default (P-256, RSA 2048).
func keySpec(site *v1alpha1.SecureSite) certs.KeySpec {
	k := site.Spec.Certificate.PrivateKey
	return certs.KeySpec{Algorithm: string(k.Algorithm), Size: int(k.Size)}.Normalized()
}

func secretName(site *v1alpha1.SecureSite) string {
	if n := site.Spec.Certificate.SecretName; n != "" {
		return n
	}
	return naming.DefaultSecretName(site.Name)
}

// requestFingerprint identifies what the site asks the CA for (names, key, CA and account), short
// enough for status even with 100 names.
func (r *SecureSiteReconciler) requestFingerprint(s *scope) string {
	site := s.site
	server, email, _ := r.classACME(s.class)
	sum := sha256.Sum256([]byte(strings.Join(certificateNames(site), ",") + "|" + keySpec(site).String() + "|" + server + "|" + email + "|" + string(site.Spec.Certificate.IssuerOrDefault())))
	return hex.EncodeToString(sum[:8])
}

// reconcileCertificate keeps a valid certificate for the site's names in its TLS Secret. It
// gathers (the Secret, a finished order from the pool), asks certs.Decide what to do, and acts.
// Issuance itself runs in the pool; this phase only submits, collects results and writes the Secret.
func (r *SecureSiteReconciler) reconcileCertificate(ctx context.Context, s *scope) error {
	site := s.site
	if site.Status.Certificate == nil {
		site.Status.Certificate = &v1alpha1.CertificateStatus{}
	}
	st := site.Status.Certificate
	st.SecretName = secretName(site)

	secret, err := r.observeSecret(ctx, site, st.SecretName)
	if se, ok := asStalled(err); ok {
		s.cert = certObservation{state: certConflict, message: se.message}
		s.waitFor(dnsConflictWait)
		return nil
	}
	if err != nil {
		return err
	}
	if err := r.collectOrder(ctx, s, secret); err != nil {
		return err
	}
	d := certs.Decide(r.certificateSituation(s, secret.parsed))
	if err := r.actOnCertificate(ctx, s, secret, d); err != nil {
		return err
	}
	// Later phases (ACM, export) copy whatever certificate the Secret holds now.
	if s.cert.parsed != nil {
		s.cert.certPEM, s.cert.keyPEM = secret.certPEM(), secret.keyPEM()
	}
	return nil
}

// certificateSituation gathers what the decision depends on.
func (r *SecureSiteReconciler) certificateSituation(s *scope, current *certs.Parsed) certs.Situation {
	site, st := s.site, s.site.Status.Certificate
	m := certs.Memory{Serial: st.SerialNumber, FailedAttempts: st.FailedAttempts, FailedRequest: st.FailedRequest}
	if st.RenewalTime != nil {
		m.RenewalTime = st.RenewalTime.Time
	}
	if st.NextAttemptTime != nil {
		m.NextAttempt = st.NextAttemptTime.Time
	}
	return certs.Situation{
		Now:     s.now,
		Current: current,
		Want: certs.Want{Names: certificateNames(site), Key: keySpec(site), Fingerprint: r.requestFingerprint(s),
			SelfSigned: site.Spec.Certificate.IssuerOrDefault() == v1alpha1.IssuerSelfSigned},
		Memory:        m,
		OrderInFlight: r.Issuer.InFlight(siteRef(site)),
		ZoneKnown:     s.zone.found(),
	}
}

// actOnCertificate carries out the decision and records what the phase saw.
func (r *SecureSiteReconciler) actOnCertificate(ctx context.Context, s *scope, secret *siteSecret, d certs.Decision) error {
	site, st := s.site, s.site.Status.Certificate
	if d.MemoryStale {
		// Status lost or written by an older version: recompute from the certificate.
		// (A cache lagging behind our own status write is handled in Reconcile.)
		recordIssued(st, secret.parsed, st.Issuer, d.RenewalTime)
	}
	if d.LiftBackoff && s.writesAllowed() {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "BackoffLifted", "Issue", "the certificate request changed since the last failure; trying again now")
		clearFailure(st)
	}
	w := waitingCertificate{s: s, current: secret.parsed, d: d}
	switch {
	case d.Action == certs.Keep:
		return r.keepCertificate(ctx, s, secret.parsed)
	case d.Action == certs.AwaitOrder:
		r.observeIssuing(s, w, fmt.Sprintf("issuing (%s) for %v", d.Why, certificateNames(site)))
	case d.Action == certs.BackOff:
		w.observe(certBackingOff, fmt.Sprintf("%d failed attempt(s), last: %s; next attempt after %s",
			st.FailedAttempts, st.LastFailureMessage, st.NextAttemptTime.UTC().Format(time.RFC3339)))
		s.waitFor(st.NextAttemptTime.Sub(s.now))
	case !s.writesAllowed():
		w.observe(certSuspended, "suspended; would issue: "+d.Why)
	case d.Action == certs.IssueSelfSigned:
		return r.issueSelfSigned(ctx, s, secret)
	case d.Action == certs.AwaitZone:
		w.observe(certWaitingZone, "waiting for a hosted zone to answer the DNS-01 challenge: "+s.zone.problem)
	default:
		return r.orderCertificate(ctx, s, w, secret.parsed, d.Why)
	}
	return nil
}

// orderCertificate submits an ACME order, unless another site holds one of the names (then
// neither the certificate nor its DNS-01 records are made).
func (r *SecureSiteReconciler) orderCertificate(ctx context.Context, s *scope, w waitingCertificate, current *certs.Parsed, why string) error {
	msg, err := r.namesClaimedElsewhere(ctx, s)
	if err != nil {
		return err
	}
	if msg != "" {
		w.observe(certNameClaimed, msg)
		s.waitFor(dnsConflictWait)
		return nil
	}
	r.submitOrder(s, current, why)
	r.observeIssuing(s, w, fmt.Sprintf("issuing (%s) for %v", why, certificateNames(s.site)))
	return nil
}

// waitingCertificate reports a certificate that is wanted but not there yet: a renewal keeps the
// current one valid meanwhile, anything else is reported as the state it waits in.
type waitingCertificate struct {
	s       *scope
	current *certs.Parsed
	d       certs.Decision
}

func (w waitingCertificate) observe(state certState, msg string) {
	if w.d.CurrentServes {
		w.s.cert = certObservation{parsed: w.current, state: certValid,
			message: fmt.Sprintf("certificate valid until %s; %s", w.current.NotAfter.UTC().Format(time.RFC3339), msg)}
		return
	}
	w.s.cert = certObservation{state: state, message: msg}
}

// observeIssuing reports an order in the pool: running, or queued behind the CA's rate limits
// (not a failure and not a backoff: the pool sends it when its turn comes).
func (r *SecureSiteReconciler) observeIssuing(s *scope, w waitingCertificate, msg string) {
	if wait, ok := r.Issuer.Waiting(siteRef(s.site)); ok {
		w.observe(certRateLimited, fmt.Sprintf("waiting for the CA's rate limit (%s); order expected to be sent at %s",
			wait.Reason, wait.Until.UTC().Format(time.RFC3339)))
		s.waitFor(min(max(wait.Until.Sub(s.now), time.Second), issuingRecheck))
		return
	}
	w.observe(certIssuing, msg)
	s.waitFor(issuingRecheck)
}

// keepCertificate reports the valid certificate and removes DNS-01 records a crashed order left.
func (r *SecureSiteReconciler) keepCertificate(ctx context.Context, s *scope, p *certs.Parsed) error {
	st := s.site.Status.Certificate
	if err := r.releaseStaleChallenges(ctx, s); err != nil {
		return err
	}
	s.cert = certObservation{parsed: p, state: certValid, message: fmt.Sprintf("certificate for %d name(s) valid until %s; renewal at %s",
		len(p.DNSNames), p.NotAfter.UTC().Format(time.RFC3339), st.RenewalTime.UTC().Format(time.RFC3339))}
	s.waitFor(min(st.RenewalTime.Sub(s.now), maxValidWait))
	return nil
}

func (r *SecureSiteReconciler) issueSelfSigned(ctx context.Context, s *scope, secret *siteSecret) error {
	site, st := s.site, s.site.Status.Certificate
	certPEM, keyPEM, err := certs.SelfSigned(certificateNames(site), keySpec(site), selfSignedValidity, s.now)
	if err != nil {
		return fmt.Errorf("making self-signed certificate: %w", err)
	}
	issuer := string(v1alpha1.IssuerSelfSigned)
	if err := r.writeSecret(ctx, site, secret, certPEM, keyPEM, certPEM, issuer); err != nil {
		return err
	}
	recordIssued(st, secret.parsed, issuer, certs.RenewalTime(secret.parsed, nil, s.now))
	s.cert = certObservation{parsed: secret.parsed, state: certValid, message: fmt.Sprintf("self-signed certificate valid until %s (not trusted by browsers; use issuer acme in production)",
		secret.parsed.NotAfter.UTC().Format(time.RFC3339))}
	s.waitFor(st.RenewalTime.Sub(s.now))
	return nil
}

func (r *SecureSiteReconciler) submitOrder(s *scope, current *certs.Parsed, why string) {
	site := s.site
	server, email, caBundle := r.classACME(s.class)
	names := certificateNames(site)
	// HostedZoneID: DNS-01 records go to the site's zone, not whichever zone of that name a lookup
	// by name finds (two public zones of one name are ambiguous).
	req := acme.Request{Site: siteRef(site), Names: names, Key: keySpec(site), Server: server, Email: email, CABundle: caBundle, HostedZoneID: s.zone.zone.ID}
	if current != nil {
		req.Replaces = current.Leaf
	}
	if r.Issuer.Submit(req) {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, v1alpha1.ReasonIssuing, "Issue", "ordering a certificate from %s for %v (%s)", server, names, why)
	}
}

// collectOrder stores the result of a finished order: a certificate goes into the Secret, a
// failure into status with the time of the next attempt.
func (r *SecureSiteReconciler) collectOrder(ctx context.Context, s *scope, secret *siteSecret) error {
	site, st := s.site, s.site.Status.Certificate
	res, ok := r.Issuer.Result(siteRef(site))
	if !ok {
		return nil
	}
	if res.Err != nil {
		st.FailedAttempts++
		st.LastFailureTime = &metav1.Time{Time: res.Finished}
		st.NextAttemptTime = &metav1.Time{Time: certs.NextAttempt(st.FailedAttempts, res.Finished)}
		st.LastFailureMessage = acme.ErrorText(res.Err)
		st.FailedRequest = r.requestFingerprint(s)
		r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonIssuanceFailed, "Issue",
			"attempt %d failed, next attempt after %s: %s", st.FailedAttempts, st.NextAttemptTime.UTC().Format(time.RFC3339), st.LastFailureMessage)
		return nil //nolint:nilerr // the order failed, not the pass: recorded above, and the backoff decides the next attempt
	}
	server, _, _ := r.classACME(s.class)
	if err := r.writeSecret(ctx, site, secret, res.CertPEM, res.KeyPEM, res.CAPEM, server); err != nil {
		// The order succeeded but the Secret write failed: keep the result for the next pass
		// rather than ordering again.
		r.Issuer.Restore(res)
		return err
	}
	recordIssued(st, secret.parsed, server, certs.RenewalTime(secret.parsed, res.ARI, s.now))
	return nil
}

// recordIssued puts a certificate's facts into status and resets the failure backoff.
func recordIssued(st *v1alpha1.CertificateStatus, p *certs.Parsed, issuer string, renewal time.Time) {
	st.SerialNumber = p.SerialHex
	st.DNSNames = p.DNSNames
	st.NotBefore = &metav1.Time{Time: p.NotBefore}
	st.NotAfter = &metav1.Time{Time: p.NotAfter}
	st.RenewalTime = &metav1.Time{Time: renewal}
	st.Issuer = issuer
	clearFailure(st)
}

func clearFailure(st *v1alpha1.CertificateStatus) {
	st.FailedAttempts, st.LastFailureTime, st.NextAttemptTime, st.LastFailureMessage, st.FailedRequest = 0, nil, nil, "", ""
}

// releaseStaleChallenges removes DNS-01 TXT values the site's orders left behind: lego cleans up
// after itself, but a controller killed during an order never does, and after a restart nothing
// remembers the order. With a valid certificate and no order in flight, any challenge record of
// the site in its zone is stale. No Route53 call when there is none: the zone's snapshot answers.
// While the last order's own removal still runs (it does not hold up the order's result), the
// records are left to it; when it fails, the pool wakes the site and this pass removes them.
func (r *SecureSiteReconciler) releaseStaleChallenges(ctx context.Context, s *scope) error {
	if !s.zone.found() || !s.writesAllowed() || r.Issuer.InFlight(siteRef(s.site)) || r.Issuer.RemovingChallenges(siteRef(s.site)) {
		return nil
	}
	zone := s.zone.zone
	if _, err := r.DNS.Release(ctx, zone, naming.ChallengeOwner(s.owner)); err != nil {
		return fmt.Errorf("removing stale DNS-01 records from zone %s: %w", zone.Name, err)
	}
	return nil
}

func siteRef(site *v1alpha1.SecureSite) types.NamespacedName {
	return types.NamespacedName{Namespace: site.Namespace, Name: site.Name}
}
