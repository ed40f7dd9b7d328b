package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/certs"
)

// siteSecret is the site's TLS Secret as last read or written, with the certificate in it.
type siteSecret struct {
	secret *corev1.Secret // nil: no Secret yet
	parsed *certs.Parsed  // nil: none, or unreadable
}

func (s *siteSecret) certPEM() []byte { return s.secret.Data[corev1.TLSCertKey] }
func (s *siteSecret) keyPEM() []byte  { return s.secret.Data[corev1.TLSPrivateKeyKey] }

// observeSecret reads the site's TLS Secret from the API server: one GET a pass, whose 404 says
// there is none (the cache keeps no copy of our Secrets, only which site each one wakes). A
// Secret under that name that we do not own is a conflict: it is never overwritten.
func (r *SecureSiteReconciler) observeSecret(ctx context.Context, site *v1alpha1.SecureSite, name string) (*siteSecret, error) {
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: site.Namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return &siteSecret{}, nil
		}
		return nil, err
	}
	if secret.Labels[v1alpha1.LabelManagedBy] != v1alpha1.LabelManagedByValue {
		return nil, stalled(v1alpha1.ReasonSecretConflict, "Secret %s/%s exists and is not managed by SecureSite; not overwritten (delete it or set certificate.secretName)", site.Namespace, name)
	}
	// Controlled by this site: a Secret left by an earlier site of the same name has another UID.
	if !metav1.IsControlledBy(secret, site) {
		return nil, stalled(v1alpha1.ReasonSecretConflict, "Secret %s/%s belongs to another owner; not overwritten (set certificate.secretName)", site.Namespace, name)
	}
	// Ours but unreadable (edited by hand?): no certificate, so it is reissued.
	parsed, _ := certs.ParseTLSSecret(secret.Data)
	return &siteSecret{secret: secret, parsed: parsed}, nil
}

// writeSecret stores a certificate in the site's Secret, creating it if needed.
func (r *SecureSiteReconciler) writeSecret(ctx context.Context, site *v1alpha1.SecureSite, s *siteSecret, certPEM, keyPEM, caPEM []byte, issuer string) error {
	data := certs.SecretData(certPEM, keyPEM, caPEM)
	parsed, err := certs.ParseTLSSecret(data)
	if err != nil {
		return fmt.Errorf("issued certificate does not parse: %w", err)
	}
	secret := s.secret
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
		return err
	}
	if err := r.saveSecret(ctx, site, secret, s.secret == nil); err != nil {
		return err
	}
	s.secret, s.parsed = secret, parsed
	r.Recorder.Eventf(site, secret, corev1.EventTypeNormal, v1alpha1.ReasonIssued, "WriteSecret",
		"certificate %s for %v stored in Secret %s, valid until %s", parsed.SerialHex, parsed.DNSNames, secret.Name, parsed.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// saveSecret creates or updates the site's Secret. The watch event of the write does not wake the
// site (see ownSecretWrites): the pass that wrote it already works from what it wrote.
func (r *SecureSiteReconciler) saveSecret(ctx context.Context, site *v1alpha1.SecureSite, secret *corev1.Secret, create bool) error {
	key := client.ObjectKeyFromObject(site)
	before := secret.ResourceVersion
	r.ownWrites.writing(key, secret.Name)
	var err error
	if create {
		err = r.Create(ctx, secret)
	} else {
		err = r.Update(ctx, secret)
	}
	written := secret.ResourceVersion
	if err != nil || written == before {
		written = "" // nothing written, no event to wait for
	}
	r.ownWrites.wrote(key, written)
	if apierrors.IsAlreadyExists(err) {
		return stalled(v1alpha1.ReasonSecretConflict, "Secret %s/%s appeared while issuing and is not managed by SecureSite; not overwritten", site.Namespace, secret.Name)
	}
	if err != nil {
		return fmt.Errorf("writing Secret %s: %w", secret.Name, err)
	}
	return nil
}
