// Package certs holds the pure certificate logic of SecureSite: keys, the kubernetes.io/tls Secret
// shape, renewal and retry timing, and the self-signed issuer. Nothing here talks to a network.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// Key algorithms as spelled in the SecureSite API (spec.certificate.privateKey.algorithm).
const (
	AlgorithmECDSA = "ECDSA"
	AlgorithmRSA   = "RSA"
)

// KeySpec is the certificate key the user asked for. Zero values mean the API defaults: ECDSA,
// P-256 for ECDSA and 2048 bits for RSA.
type KeySpec struct {
	Algorithm string
	Size      int
}

// Normalized fills the API defaults so that two specs meaning the same key compare equal.
func (k KeySpec) Normalized() KeySpec {
	if k.Algorithm == "" {
		k.Algorithm = AlgorithmECDSA
	}
	k.Algorithm = strings.ToUpper(k.Algorithm)
	if k.Size == 0 {
		if k.Algorithm == AlgorithmRSA {
			k.Size = 2048
		} else {
			k.Size = 256
		}
	}
	return k
}

// Validate reports a key the API would not accept (the CRD's CEL rule, repeated here for callers
// that build a KeySpec from flags).
func (k KeySpec) Validate() error {
	n := k.Normalized()
	switch {
	case n.Algorithm == AlgorithmECDSA && (n.Size == 256 || n.Size == 384):
		return nil
	case n.Algorithm == AlgorithmRSA && (n.Size == 2048 || n.Size == 3072 || n.Size == 4096):
		return nil
	}
	return fmt.Errorf("unsupported private key %s %d: ECDSA takes 256 or 384, RSA 2048, 3072 or 4096", n.Algorithm, n.Size)
}

func (k KeySpec) String() string {
	n := k.Normalized()
	return fmt.Sprintf("%s-%d", n.Algorithm, n.Size)
}

// GenerateKey makes a new private key and its PEM. The PEM is the traditional encoding (SEC 1
// "EC PRIVATE KEY" / PKCS #1 "RSA PRIVATE KEY"), the same lego and cert-manager write, so that
// the ACME and self-signed issuers give Secrets of one shape.
func GenerateKey(k KeySpec) (crypto.Signer, []byte, error) {
	if err := k.Validate(); err != nil {
		return nil, nil, err
	}
	n := k.Normalized()
	var (
		key crypto.Signer
		err error
	)
	if n.Algorithm == AlgorithmRSA {
		key, err = rsa.GenerateKey(rand.Reader, n.Size)
	} else {
		curve := elliptic.P256()
		if n.Size == 384 {
			curve = elliptic.P384()
		}
		key, err = ecdsa.GenerateKey(curve, rand.Reader)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("generating %s key: %w", n, err)
	}
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, keyPEM, nil
}

// EncodeKey PEM-encodes an ECDSA or RSA private key in the traditional encoding.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	}
	return nil, fmt.Errorf("unsupported private key type %T", key)
}

// ParseKey reads the first private key of a PEM (PKCS #8, SEC 1 or PKCS #1).
func ParseKey(keyPEM []byte) (crypto.Signer, error) {
	for block := range pemBlocks(keyPEM, "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY") {
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", key)
		}
		return signer, nil
	}
	return nil, fmt.Errorf("no private key in PEM")
}

// publicKeySpec names the algorithm and size of a certificate's public key.
func publicKeySpec(pub crypto.PublicKey) (KeySpec, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return KeySpec{Algorithm: AlgorithmECDSA, Size: k.Curve.Params().BitSize}, nil
	case *rsa.PublicKey:
		return KeySpec{Algorithm: AlgorithmRSA, Size: k.N.BitLen()}, nil
	}
	return KeySpec{}, fmt.Errorf("unsupported public key type %T", pub)
}
