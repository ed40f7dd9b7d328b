package acme

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/internal/certs"
)

// AccountStore keeps ACME account keys and registration URIs, one per ACME server and email.
type AccountStore interface {
	Load(ctx context.Context, server, email string) (key crypto.Signer, uri string, found bool, err error)
	Save(ctx context.Context, server, email string, key crypto.Signer, uri string) error
}

// Labels and keys of the account Secret.
const (
	LabelManagedBy        = "app.kubernetes.io/managed-by"
	ManagedBy             = "securesite"
	LabelComponent        = "app.kubernetes.io/component"
	AccountComponent      = "acme-account"
	accountSecretPrefix   = "securesite-acme-account-"
	accountKeyField       = "tls.key"
	accountURIField       = "registration-uri"
	annotationACMEServer  = "securesite.io/acme-server"
	annotationACMEAccount = "securesite.io/acme-email"
)

// AccountSecretName is the Secret holding the account for server+email. The name is a hash
// because directory URLs and emails are not valid object names; the whole hash, because with a
// short one a class naming a chosen server and email could land on another class's account
// Secret (Load also checks the Secret's annotations).
func AccountSecretName(server, email string) string {
	sum := sha256.Sum256([]byte(server + "\n" + email))
	return accountSecretPrefix + hex.EncodeToString(sum[:])
}

type secretAccountStore struct {
	c         client.Client
	namespace string
}

// NewSecretAccountStore keeps accounts as Secrets in the controller's namespace, so that a
// restarted or rescheduled controller reuses its accounts instead of registering new ones (Let's
// Encrypt allows 10 new accounts per IP per 3 hours). The client should read from the API server
// directly: the controller caches only the metadata of Secrets.
func NewSecretAccountStore(c client.Client, namespace string) AccountStore {
	return &secretAccountStore{c: c, namespace: namespace}
}

func (s *secretAccountStore) Load(ctx context.Context, server, email string) (crypto.Signer, string, bool, error) {
	var sec corev1.Secret
	key := types.NamespacedName{Namespace: s.namespace, Name: AccountSecretName(server, email)}
	if err := s.c.Get(ctx, key, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "", false, nil
		}
		return nil, "", false, fmt.Errorf("reading ACME account Secret %s: %w", key, err)
	}
	if sec.Annotations[annotationACMEServer] != server || sec.Annotations[annotationACMEAccount] != email {
		return nil, "", false, fmt.Errorf("ACME account Secret %s holds the account of %q at %q, not of %q at %q; not used",
			key, sec.Annotations[annotationACMEAccount], sec.Annotations[annotationACMEServer], email, server)
	}
	signer, err := certs.ParseKey(sec.Data[accountKeyField])
	if err != nil {
		return nil, "", false, fmt.Errorf("ACME account Secret %s: %w", key, err)
	}
	return signer, string(sec.Data[accountURIField]), true, nil
}

func (s *secretAccountStore) Save(ctx context.Context, server, email string, key crypto.Signer, uri string) error {
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		return err
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   s.namespace,
			Name:        AccountSecretName(server, email),
			Labels:      map[string]string{LabelManagedBy: ManagedBy, LabelComponent: AccountComponent},
			Annotations: map[string]string{annotationACMEServer: server, annotationACMEAccount: email},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{accountKeyField: keyPEM, accountURIField: []byte(uri)},
	}
	err = s.c.Create(ctx, sec)
	if apierrors.IsAlreadyExists(err) {
		// Re-registration after the CA forgot the account: same name, new URI (and key).
		var cur corev1.Secret
		if err := s.c.Get(ctx, client.ObjectKeyFromObject(sec), &cur); err != nil {
			return err
		}
		cur.Data = sec.Data
		err = s.c.Update(ctx, &cur)
	}
	if err != nil {
		return fmt.Errorf("saving ACME account Secret %s/%s: %w", sec.Namespace, sec.Name, err)
	}
	return nil
}
