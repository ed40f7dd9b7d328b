package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"
)

// Keys of a kubernetes.io/tls Secret (corev1.TLSCertKey, TLSPrivateKeyKey, ServiceAccountRootCAKey
// spell the same strings; kept here so this package needs no Kubernetes types).
const (
	SecretCertKey = "tls.crt"
	SecretKeyKey  = "tls.key"
	SecretCAKey   = "ca.crt"
)

// Annotations written on the Secret so that `kubectl get secret -o yaml` tells a user what is
// inside without openssl.
const (
	AnnotationSerial   = "securesite.io/serial"
	AnnotationNotAfter = "securesite.io/not-after"
	AnnotationIssuer   = "securesite.io/issuer"
)

// Parsed is what the controller needs to know about a stored certificate.
type Parsed struct {
	Leaf         *x509.Certificate
	Chain        []*x509.Certificate // the certificates after the leaf in tls.crt, in order
	SerialHex    string              // lowercase hex, no separators
	DNSNames     []string
	NotBefore    time.Time
	NotAfter     time.Time
	KeyAlgorithm string // ECDSA or RSA
	KeySize      int    // curve bits or modulus bits
}

// ErrNoCertificate is returned by ParseTLSSecret when the Secret has no certificate yet.
var ErrNoCertificate = errors.New("secret holds no certificate")

// ParseTLSSecret reads tls.crt (leaf first, then its chain) and checks that tls.key is the leaf's
// private key: a Secret whose halves do not match would make every server using it fail the TLS
// handshake, so it is treated as absent.
func ParseTLSSecret(data map[string][]byte) (*Parsed, error) {
	certPEM, keyPEM := data[SecretCertKey], data[SecretKeyKey]
	if len(bytes.TrimSpace(certPEM)) == 0 {
		return nil, ErrNoCertificate
	}
	certsIn, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SecretCertKey, err)
	}
	leaf := certsIn[0]
	spec, err := publicKeySpec(leaf.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SecretCertKey, err)
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SecretKeyKey, err)
	}
	if !publicKeysEqual(leaf.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%s does not match the certificate in %s", SecretKeyKey, SecretCertKey)
	}
	return &Parsed{
		Leaf:         leaf,
		Chain:        certsIn[1:],
		SerialHex:    fmt.Sprintf("%x", leaf.SerialNumber),
		DNSNames:     leaf.DNSNames,
		NotBefore:    leaf.NotBefore,
		NotAfter:     leaf.NotAfter,
		KeyAlgorithm: spec.Algorithm,
		KeySize:      spec.Size,
	}, nil
}

// ParseCertificates reads every CERTIFICATE block of a PEM, in order.
func ParseCertificates(certPEM []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for block := range pemBlocks(certPEM, "CERTIFICATE") {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// SplitLeaf returns the PEM of the first certificate of a chain (tls.crt: leaf first) and the PEM
// of the certificates after it; leaf is nil when there is no certificate.
func SplitLeaf(chainPEM []byte) (leaf, rest []byte) {
	for block := range pemBlocks(chainPEM, "CERTIFICATE") {
		if leaf == nil {
			leaf = pem.EncodeToMemory(block)
			continue
		}
		rest = append(rest, pem.EncodeToMemory(block)...)
	}
	return leaf, rest
}

// pemBlocks yields the PEM blocks of data in order, only those of the given types (every block
// when none is given); anything between blocks is skipped.
func pemBlocks(data []byte, types ...string) iter.Seq[*pem.Block] {
	return func(yield func(*pem.Block) bool) {
		for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
			if len(types) > 0 && !slices.Contains(types, block.Type) {
				continue
			}
			if !yield(block) {
				return
			}
		}
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// SecretData is the data of the kubernetes.io/tls Secret. ca.crt is left out when unknown rather
// than written empty, because mounting an empty CA file breaks clients that load it.
func SecretData(certPEM, keyPEM, caPEM []byte) map[string][]byte {
	data := map[string][]byte{SecretCertKey: certPEM, SecretKeyKey: keyPEM}
	if len(bytes.TrimSpace(caPEM)) > 0 {
		data[SecretCAKey] = caPEM
	}
	return data
}

// Annotations describe the certificate on its Secret.
func Annotations(p *Parsed, issuer string) map[string]string {
	return map[string]string{
		AnnotationSerial:   p.SerialHex,
		AnnotationNotAfter: p.NotAfter.UTC().Format(time.RFC3339),
		AnnotationIssuer:   issuer,
	}
}

// TopOfChainIfRoot returns the PEM of the last certificate of a chain when it is self-signed (a
// root), else nil. ACME returns the chain up to, but not including, the root; guessing the root
// from the issuer name would risk writing a wrong ca.crt, so it is only filled when known.
func TopOfChainIfRoot(chainPEM []byte) []byte {
	chain, err := ParseCertificates(chainPEM)
	if err != nil {
		return nil
	}
	top := chain[len(chain)-1]
	if !bytes.Equal(top.RawIssuer, top.RawSubject) || top.CheckSignature(top.SignatureAlgorithm, top.RawTBSCertificate, top.Signature) != nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: top.Raw})
}
