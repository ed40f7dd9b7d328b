package certs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// clockSkew back-dates self-signed certificates so that a client whose clock runs a little behind
// the controller's does not reject a fresh certificate as "not yet valid".
const clockSkew = 5 * time.Minute

// SelfSigned makes a certificate for names (the first is the common name) signed by its own new
// key, for the selfSigned issuer. The Secret shape is the same as for ACME; ca.crt is the
// certificate itself, which clients can trust directly.
func SelfSigned(names []string, key KeySpec, validity time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	if len(names) == 0 {
		return nil, nil, errors.New("self-signed certificate needs at least one DNS name")
	}
	if validity <= 0 {
		return nil, nil, fmt.Errorf("self-signed validity %s must be positive", validity)
	}
	signer, keyPEM, err := GenerateKey(key)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	usage := x509.KeyUsageDigitalSignature
	if _, isRSA := signer.(*rsa.PrivateKey); isRSA {
		// RSA key exchange in TLS 1.2 encrypts with the certificate's key.
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0], Organization: []string{"SecureSite self-signed"}},
		DNSNames:              names,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return nil, nil, fmt.Errorf("creating self-signed certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}
