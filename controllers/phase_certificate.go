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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

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

// keySpec applies the defaults: ECDSA P-256, RSA 2048.
func keySpec(site *v1alpha1.SecureSite) certs.KeySpec {
	k := site.Spec.Certificate.PrivateKey
	alg := string(k.Algorithm)
	if alg == "" {
		alg = string(v1alpha1.KeyAlgorithmECDSA)
	}
	size := int(k.Size)
	if size == 0 {
		size = 256
		if alg == string(v1alpha1.KeyAlgorithmRSA) {
			size = 2048
		}
	}
	return certs.KeySpec{Algorithm: alg, Size: size}
}

func secretName(site *v1alpha1.SecureSite) string {
	if n := site.Spec.Certificate.SecretName; n != "" {
		return n
	}
	return naming.DefaultSecretName(site.Name)
}

func issuerOf(site *v1alpha1.SecureSite) v1alpha1.IssuerType {
	if site.Spec.Certificate.Issuer == "" {
		return v1alpha1.IssuerACME
	}
	return site.Spec.Certificate.Issuer
}

// reconcileCertificate keeps a valid certificate for the site's names in its TLS Secret. Issuance
// runs in the pool; this phase only submits, collects results and writes the Secret.
func (r *SecureSiteReconciler) reconcileCertificate(ctx context.Context, s *scope) error {
	site := s.site
	key := types.NamespacedName{Namespace: site.Namespace, Name: site.Name}
	st := site.Status.Certificate
	if st == nil {
		st = &v1alpha1.CertificateStatus{}
		site.Status.Certificate = st
	}
	st.SecretName = secretName(site)

	secret, parsed, err := r.observeSecret(ctx, site, st.SecretName)
	// Later phases (ACM) need the PEMs of whatever certificate the Secret holds at the end.
	defer func() {
		if secret != nil && s.cert.parsed != nil {
			s.cert.certPEM, s.cert.keyPEM = secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey]
		}
	}()
	if err != nil {
		if se, ok := asStalled(err); ok {
			s.cert = certObservation{state: certConflict, message: se.message}
			s.waitFor(dnsConflictWait)
			return nil
		}
		return err
	}

	// Collect a finished order first: its outcome decides everything below.
	if res, ok := r.Issuer.Result(key); ok {
		if res.Err != nil {
			st.FailedAttempts++
			st.LastFailureTime = &metav1.Time{Time: res.Finished}
			st.NextAttemptTime = &metav1.Time{Time: certs.NextAttempt(st.FailedAttempts, res.Finished)}
			st.LastFailureMessage = acme.ErrorText(res.Err)
			st.FailedRequest = r.requestFingerprint(s)
			r.Recorder.Eventf(site, nil, corev1.EventTypeWarning, v1alpha1.ReasonIssuanceFailed, "Issue",
				"attempt %d failed, next attempt after %s: %s", st.FailedAttempts, st.NextAttemptTime.UTC().Format(time.RFC3339), st.LastFailureMessage)
		} else {
			server, _, _ := r.classACME(s.class)
			written, newParsed, err := r.writeSecret(ctx, site, secret, res.CertPEM, res.KeyPEM, res.CAPEM, server)
			if err != nil {
				// The order succeeded but the Secret write failed: keep the result for the next pass
				// rather than ordering again.
				r.Issuer.Restore(res)
				return err
			}
			secret, parsed = written, newParsed
			r.recordIssued(site, st, parsed, server, res.ARI, s.now)
		}
	}

	names := certificateNames(site)
	ks := keySpec(site)
	need, why := true, "no certificate yet"
	// specChanged: the certificate no longer matches the spec (names, key), so it does not count
	// as valid while its replacement is issued; a renewal keeps the current one valid meanwhile.
	specChanged := false
	if parsed != nil {
		specChanged, why = certs.NeedsReissue(parsed, names, ks)
		need = specChanged
		if !specChanged {
			if st.SerialNumber != parsed.SerialHex || st.RenewalTime == nil {
				// Status lost or written by an older version: recompute from the certificate.
				// (A cache lagging behind our own status write is handled in Reconcile.)
				r.recordIssued(site, st, parsed, st.Issuer, nil, s.now)
			}
			if !s.now.Before(st.RenewalTime.Time) {
				need, why = true, "renewal time reached"
			}
		}
	}
	valid := parsed != nil && s.now.Before(parsed.NotAfter) && !specChanged

	if !need {
		if err := r.releaseStaleChallenges(ctx, s, key); err != nil {
			return err
		}
		s.cert = certObservation{parsed: parsed, state: certValid, message: fmt.Sprintf("certificate for %d name(s) valid until %s; renewal at %s",
			len(parsed.DNSNames), parsed.NotAfter.UTC().Format(time.RFC3339), st.RenewalTime.UTC().Format(time.RFC3339))}
		s.waitFor(min(st.RenewalTime.Sub(s.now), maxValidWait))
		return nil
	}

	// From here a (re)issue is wanted.
	observe := func(state certState, msg string) {
		if valid {
			s.cert = certObservation{parsed: parsed, state: certValid, message: fmt.Sprintf("certificate valid until %s; %s", parsed.NotAfter.UTC().Format(time.RFC3339), msg)}
			return
		}
		s.cert = certObservation{state: state, message: msg}
	}
	switch {
	case site.Spec.Suspend:
		observe(certSuspended, "suspended; would issue: "+why)
		return nil
	case r.Issuer.InFlight(key):
		r.observeIssuing(s, key, observe, fmt.Sprintf("issuing (%s) for %v", why, names))
		return nil
	case st.FailedAttempts > 0 && st.FailedRequest != "" && st.FailedRequest != r.requestFingerprint(s):
		// The user changed what is asked for (e.g. removed the name that failed): the backoff of
		// the old request does not hold the new one back.
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, "BackoffLifted", "Issue", "the certificate request changed since the last failure; trying again now")
		st.FailedAttempts, st.LastFailureTime, st.NextAttemptTime, st.LastFailureMessage, st.FailedRequest = 0, nil, nil, "", ""
	case st.FailedAttempts > 0 && st.NextAttemptTime != nil && s.now.Before(st.NextAttemptTime.Time):
		observe(certBackingOff, fmt.Sprintf("%d failed attempt(s), last: %s; next attempt after %s",
			st.FailedAttempts, st.LastFailureMessage, st.NextAttemptTime.UTC().Format(time.RFC3339)))
		s.waitFor(st.NextAttemptTime.Sub(s.now))
		return nil
	}

	if issuerOf(site) == v1alpha1.IssuerSelfSigned {
		certPEM, keyPEM, err := certs.SelfSigned(names, ks, selfSignedValidity, s.now)
		if err != nil {
			return fmt.Errorf("making self-signed certificate: %w", err)
		}
		written, parsed, err := r.writeSecret(ctx, site, secret, certPEM, keyPEM, certPEM, string(v1alpha1.IssuerSelfSigned))
		if err != nil {
			return err
		}
		secret = written
		r.recordIssued(site, st, parsed, string(v1alpha1.IssuerSelfSigned), nil, s.now)
		s.cert = certObservation{parsed: parsed, state: certValid, message: fmt.Sprintf("self-signed certificate valid until %s (not trusted by browsers; use issuer acme in production)",
			parsed.NotAfter.UTC().Format(time.RFC3339))}
		s.waitFor(st.RenewalTime.Sub(s.now))
		return nil
	}

	if s.dns.zone.ID == "" {
		observe(certWaitingZone, "waiting for a hosted zone to answer the DNS-01 challenge: "+s.dns.zoneProblem)
		return nil
	}
	if msg, err := r.namesClaimedElsewhere(ctx, s); err != nil || msg != "" {
		if err == nil {
			observe(certNameClaimed, msg)
			s.waitFor(dnsConflictWait)
		}
		return err
	}
	server, email, caBundle := r.classACME(s.class)
	req := acme.Request{Site: key, Names: names, Key: ks, Server: server, Email: email, CABundle: caBundle, HostedZoneID: s.dns.zone.ID}
	if parsed != nil {
		req.Replaces = parsed.Leaf
	}
	if r.Issuer.Submit(req) {
		r.Recorder.Eventf(site, nil, corev1.EventTypeNormal, v1alpha1.ReasonIssuing, "Issue", "ordering a certificate from %s for %v (%s)", server, names, why)
	}
	r.observeIssuing(s, key, observe, fmt.Sprintf("issuing (%s) for %v", why, names))
	return nil
}

// observeIssuing reports an order in the pool: running, or queued behind the CA's rate limits
// (not a failure and not a backoff: the pool sends it when its turn comes).
func (r *SecureSiteReconciler) observeIssuing(s *scope, key types.NamespacedName, observe func(certState, string), msg string) {
	if w, ok := r.Issuer.Waiting(key); ok {
		observe(certRateLimited, fmt.Sprintf("waiting for the CA's rate limit (%s); order expected to be sent at %s",
			w.Reason, w.Until.UTC().Format(time.RFC3339)))
		s.waitFor(min(max(w.Until.Sub(s.now), time.Second), issuingRecheck))
		return
	}
	observe(certIssuing, msg)
	s.waitFor(issuingRecheck)
}

// requestFingerprint identifies what the site asks the CA for (names, key, CA and account), short
// enough for status even with 100 names.
func (r *SecureSiteReconciler) requestFingerprint(s *scope) string {
	site := s.site
	server, email, _ := r.classACME(s.class)
	sum := sha256.Sum256([]byte(strings.Join(certificateNames(site), ",") + "|" + keySpec(site).String() + "|" + server + "|" + email + "|" + string(issuerOf(site))))
	return hex.EncodeToString(sum[:8])
}

// observeSecret reads the site's TLS Secret. A Secret under that name that we do not own is a
// conflict: it is never overwritten.
func (r *SecureSiteReconciler) observeSecret(ctx context.Context, site *v1alpha1.SecureSite, name string) (*corev1.Secret, *certs.Parsed, error) {
	key := client.ObjectKey{Namespace: site.Namespace, Name: name}
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err := r.Get(ctx, key, meta)
	if apierrors.IsNotFound(err) {
		// The cache only holds our labelled Secrets; ask the API server whether someone else's is there.
		if err := r.APIReader.Get(ctx, key, meta); err == nil {
			return nil, nil, stalled(v1alpha1.ReasonSecretConflict, "Secret %s/%s exists and is not managed by SecureSite; not overwritten (delete it or set certificate.secretName)", site.Namespace, name)
		} else if !apierrors.IsNotFound(err) {
			return nil, nil, err
		}
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if !metav1.IsControlledBy(meta, site) {
		return nil, nil, stalled(v1alpha1.ReasonSecretConflict, "Secret %s/%s belongs to another owner; not overwritten (set certificate.secretName)", site.Namespace, name)
	}
	// Ours: its data is read from the API server (the cache holds metadata only).
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, nil // deleted since the cache saw it
		}
		return nil, nil, err
	}
	if !metav1.IsControlledBy(secret, site) {
		return nil, nil, stalled(v1alpha1.ReasonSecretConflict, "Secret %s/%s belongs to another owner; not overwritten (set certificate.secretName)", site.Namespace, name)
	}
	parsed, parseErr := certs.ParseTLSSecret(secret.Data)
	if parseErr != nil {
		// Ours but unreadable (edited by hand?): no certificate, so it is reissued.
		parsed = nil
	}
	return secret, parsed, nil
}

// writeSecret stores a certificate in the site's Secret, creating it if needed.
func (r *SecureSiteReconciler) writeSecret(ctx context.Context, site *v1alpha1.SecureSite, existing *corev1.Secret, certPEM, keyPEM, caPEM []byte, issuer string) (*corev1.Secret, *certs.Parsed, error) {
	data := certs.SecretData(certPEM, keyPEM, caPEM)
	parsed, err := certs.ParseTLSSecret(data)
	if err != nil {
		return nil, nil, fmt.Errorf("issued certificate does not parse: %w", err)
	}
	secret := existing
	if secret == nil {
		secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: site.Namespace, Name: secretName(site)}}
	}
	secret.Type = corev1.SecretTypeTLS
	secret.Data = data
	if secret.Labels == nil {
		secret.Labels = map[string]string{}
	}
	secret.Labels[v1alpha1.LabelManagedBy] = v1alpha1.LabelManagedByValue
	secret.Labels[v1alpha1.LabelSiteName] = site.Name
	if secret.Annotations == nil {
		secret.Annotations = map[string]string{}
	}
	for k, v := range certs.Annotations(parsed, issuer) {
		secret.Annotations[k] = v
	}
	if err := controllerutil.SetControllerReference(site, secret, r.Scheme()); err != nil {
		return nil, nil, err
	}
	if existing == nil {
		err = r.Create(ctx, secret)
		if apierrors.IsAlreadyExists(err) {
			return nil, nil, stalled(v1alpha1.ReasonSecretConflict, "Secret %s/%s appeared while issuing and is not managed by SecureSite; not overwritten", site.Namespace, secret.Name)
		}
	} else {
		err = r.Update(ctx, secret)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("writing Secret %s: %w", secret.Name, err)
	}
	r.Recorder.Eventf(site, secret, corev1.EventTypeNormal, v1alpha1.ReasonIssued, "WriteSecret",
		"certificate %s for %v stored in Secret %s, valid until %s", parsed.SerialHex, parsed.DNSNames, secret.Name, parsed.NotAfter.UTC().Format(time.RFC3339))
	return secret, parsed, nil
}

// recordIssued puts a certificate's facts into status and resets the failure backoff.
func (r *SecureSiteReconciler) recordIssued(site *v1alpha1.SecureSite, st *v1alpha1.CertificateStatus, p *certs.Parsed, issuer string, ari *certs.Window, now time.Time) {
	st.SerialNumber = p.SerialHex
	st.DNSNames = p.DNSNames
	st.NotBefore = &metav1.Time{Time: p.NotBefore}
	st.NotAfter = &metav1.Time{Time: p.NotAfter}
	st.RenewalTime = &metav1.Time{Time: certs.RenewalTime(p, ari, now)}
	st.Issuer = issuer
	st.FailedAttempts = 0
	st.LastFailureTime = nil
	st.NextAttemptTime = nil
	st.LastFailureMessage = ""
	st.FailedRequest = ""
	certExpiry.WithLabelValues(site.Namespace, site.Name).Set(float64(p.NotAfter.Unix()))
}

// releaseStaleChallenges removes DNS-01 TXT values the site's orders left behind: lego cleans up
// after itself, but a controller killed during an order never does, and after a restart nothing
// remembers the order. With a valid certificate and no order in flight, any challenge record of
// the site in its zone is stale. No Route53 call when there is none: the DNS phase's snapshot
// answers.
func (r *SecureSiteReconciler) releaseStaleChallenges(ctx context.Context, s *scope, key types.NamespacedName) error {
	if s.dns.zone.ID == "" || s.site.Spec.Suspend || r.Issuer.InFlight(key) {
		return nil
	}
	if _, err := r.DNS.Release(ctx, s.dns.zone, s.owner+challengeOwnerSuffix); err != nil {
		return fmt.Errorf("removing stale DNS-01 records from zone %s: %w", s.dns.zone.Name, err)
	}
	return nil
}
