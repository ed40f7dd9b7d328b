// Package certdoc is the JSON document SecureSite writes to AWS Secrets Manager and
// securesite-agent reads back on a server outside Kubernetes. It is a package of its own, with no
// AWS or Kubernetes imports, so that the agent binary installed on an EC2 instance stays small
// (smexport pulls in the controller's metrics registry).
package certdoc

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/securesite-io/securesite/internal/certs"
)

// Document is the secret's value. Field names are the wire format shared by the controller and
// every installed agent: add fields, never rename them.
type Document struct {
	Certificate string    `json:"certificate"` // leaf PEM
	Chain       string    `json:"chain"`       // intermediates PEM, leaf's issuer first; "" when self-signed
	PrivateKey  string    `json:"privateKey"`  // PEM
	NotAfter    time.Time `json:"notAfter"`
	Serial      string    `json:"serial"` // lowercase hex, as status.certificate.serialNumber
}

// Verified is a document whose parts have been parsed and checked against each other.
type Verified struct {
	Leaf  *x509.Certificate
	Chain []*x509.Certificate
	Key   crypto.Signer
}

// FromPEM builds the document from a kubernetes.io/tls Secret's halves: tls.crt (leaf, then its
// chain) and tls.key. A key that does not belong to the leaf is refused here, so a broken pair
// never leaves the cluster.
func FromPEM(certChainPEM, keyPEM []byte) (Document, error) {
	all, err := certs.ParseCertificates(certChainPEM)
	if err != nil {
		return Document{}, fmt.Errorf("certificate: %w", err)
	}
	leaf := all[0]
	key, err := certs.ParseKey(keyPEM)
	if err != nil {
		return Document{}, fmt.Errorf("private key: %w", err)
	}
	if !publicKeysEqual(leaf.PublicKey, key.Public()) {
		return Document{}, errors.New("private key does not match the certificate's public key")
	}
	var chain bytes.Buffer
	for _, c := range all[1:] {
		_ = pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return Document{
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
		Chain:       chain.String(),
		PrivateKey:  string(keyPEM),
		NotAfter:    leaf.NotAfter.UTC(),
		Serial:      SerialHex(leaf),
	}, nil
}

// Parse decodes a secret value. Unknown fields are accepted so that an older agent keeps working
// when a newer controller adds some.
func Parse(data []byte) (Document, error) {
	var d Document
	if err := json.Unmarshal(data, &d); err != nil {
		return Document{}, fmt.Errorf("secret value is not a SecureSite certificate document (malformed JSON): %w", err)
	}
	if strings.TrimSpace(d.Certificate) == "" || strings.TrimSpace(d.PrivateKey) == "" {
		return Document{}, errors.New("secret value is not a SecureSite certificate document: certificate or privateKey is empty")
	}
	return d, nil
}

// Marshal encodes the document as the secret's value.
func (d Document) Marshal() (string, error) {
	b, err := json.Marshal(d)
	return string(b), err
}

// Verify checks what a server needs before it may swap its files: the certificate parses and is
// valid at now, the key is the certificate's key, the chain parses and its first certificate
// signed the leaf, and the serial field tells the truth about the leaf.
func (d Document) Verify(now time.Time) (*Verified, error) {
	leaves, err := certs.ParseCertificates([]byte(d.Certificate))
	if err != nil {
		return nil, fmt.Errorf("certificate does not parse: %w", err)
	}
	leaf := leaves[0]
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("certificate %s expired at %s", SerialHex(leaf), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("certificate %s is not valid before %s (check the server clock)", SerialHex(leaf), leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if d.Serial != "" && !strings.EqualFold(d.Serial, SerialHex(leaf)) {
		return nil, fmt.Errorf("document serial %s does not match the certificate's serial %s", d.Serial, SerialHex(leaf))
	}
	key, err := certs.ParseKey([]byte(d.PrivateKey))
	if err != nil {
		return nil, fmt.Errorf("private key does not parse: %w", err)
	}
	if !publicKeysEqual(leaf.PublicKey, key.Public()) {
		return nil, fmt.Errorf("private key does not match the certificate's public key (certificate %s)", SerialHex(leaf))
	}
	v := &Verified{Leaf: leaf, Key: key}
	if strings.TrimSpace(d.Chain) != "" {
		if v.Chain, err = certs.ParseCertificates([]byte(d.Chain)); err != nil {
			return nil, fmt.Errorf("chain does not parse: %w", err)
		}
		if err := leaf.CheckSignatureFrom(v.Chain[0]); err != nil {
			return nil, fmt.Errorf("chain does not belong to the certificate (its first certificate %q did not sign it): %w", v.Chain[0].Subject.CommonName, err)
		}
	}
	return v, nil
}

// FullChainPEM is what servers load as their certificate file (nginx ssl_certificate, gunicorn
// --certfile, Flask ssl_context): the leaf followed by the intermediates.
func (d Document) FullChainPEM() []byte {
	return []byte(withNewline(d.Certificate) + withNewline(strings.TrimSpace(d.Chain)))
}

// KeyPEM is the private key file's content.
func (d Document) KeyPEM() []byte {
	return []byte(withNewline(d.PrivateKey))
}

// SerialHex spells a serial the way the rest of SecureSite does: lowercase hex, no separators.
func SerialHex(c *x509.Certificate) string {
	return fmt.Sprintf("%x", c.SerialNumber)
}

func withNewline(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
