package certs

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func TestNextAttempt(t *testing.T) {
	cases := []struct {
		attempts int32
		want     time.Duration
	}{
		{0, 0}, {-1, 0}, {1, time.Hour}, {2, 2 * time.Hour}, {3, 4 * time.Hour}, {4, 8 * time.Hour},
		{5, 16 * time.Hour}, {6, 24 * time.Hour}, {7, 24 * time.Hour}, {1000, 24 * time.Hour},
		{2147483647, 24 * time.Hour},
	}
	for _, c := range cases {
		if got := NextAttempt(c.attempts, t0).Sub(t0); got != c.want {
			t.Errorf("NextAttempt(%d) = +%s, want +%s", c.attempts, got, c.want)
		}
	}
}

func TestRenewalTime(t *testing.T) {
	ninety := &Parsed{SerialHex: "0a1b", NotBefore: t0, NotAfter: t0.Add(90 * 24 * time.Hour)}
	window := &Window{Start: t0.Add(60 * 24 * time.Hour), End: t0.Add(62 * 24 * time.Hour)}
	cases := []struct {
		name     string
		p        *Parsed
		ari      *Window
		wantFrom time.Time
		wantTo   time.Time // inclusive range; equal bounds for an exact answer
	}{
		{"no ARI: one third of 90 days left", ninety, nil, t0.Add(60 * 24 * time.Hour), t0.Add(60 * 24 * time.Hour)},
		{"no ARI: 6-day certificate renews with 2 days left", &Parsed{NotBefore: t0, NotAfter: t0.Add(6 * 24 * time.Hour)}, nil,
			t0.Add(4 * 24 * time.Hour), t0.Add(4 * 24 * time.Hour)},
		{"ARI window wins", ninety, window, window.Start, window.End},
		{"ARI window in the past (revoked) stays in it", ninety, &Window{Start: t0.Add(-2 * time.Hour), End: t0.Add(-time.Hour)},
			t0.Add(-2 * time.Hour), t0.Add(-time.Hour)},
		{"empty ARI window ignored", ninety, &Window{Start: window.Start, End: window.Start}, t0.Add(60 * 24 * time.Hour), t0.Add(60 * 24 * time.Hour)},
		{"inverted ARI window ignored", ninety, &Window{Start: window.End, End: window.Start}, t0.Add(60 * 24 * time.Hour), t0.Add(60 * 24 * time.Hour)},
		{"no lifetime: now", &Parsed{NotBefore: t0, NotAfter: t0}, nil, t0.Add(time.Minute), t0.Add(time.Minute)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := RenewalTime(c.p, c.ari, t0.Add(time.Minute))
			if got.Before(c.wantFrom) || got.After(c.wantTo) {
				t.Fatalf("RenewalTime = %s, want in [%s, %s]", got, c.wantFrom, c.wantTo)
			}
			if again := RenewalTime(c.p, c.ari, t0.Add(time.Hour)); c.ari != nil && !again.Equal(got) {
				t.Fatalf("ARI pick not stable: %s then %s", got, again)
			}
		})
	}
}

func TestRenewalTimeSpreadsSitesOverTheWindow(t *testing.T) {
	window := &Window{Start: t0, End: t0.Add(48 * time.Hour)}
	seen := map[time.Time]bool{}
	for _, serial := range []string{"01", "02", "03", "04", "05", "06", "07", "08"} {
		seen[RenewalTime(&Parsed{SerialHex: serial}, window, t0)] = true
	}
	if len(seen) < 7 {
		t.Fatalf("8 serials map to only %d renewal times: renewals would burst together", len(seen))
	}
}

func TestNeedsReissue(t *testing.T) {
	p := &Parsed{DNSNames: []string{"duckhoo.site", "www.duckhoo.site"}, KeyAlgorithm: "ECDSA", KeySize: 256}
	cases := []struct {
		name  string
		names []string
		key   KeySpec
		want  bool
		why   string
	}{
		{"same", []string{"duckhoo.site", "www.duckhoo.site"}, KeySpec{"ECDSA", 256}, false, ""},
		{"defaults mean ECDSA-256", []string{"duckhoo.site", "www.duckhoo.site"}, KeySpec{}, false, ""},
		{"order and case do not matter", []string{"WWW.duckhoo.site.", "duckhoo.site"}, KeySpec{"ecdsa", 0}, false, ""},
		{"name added", []string{"duckhoo.site", "www.duckhoo.site", "api.duckhoo.site"}, KeySpec{}, true, "DNS names"},
		{"name removed", []string{"duckhoo.site"}, KeySpec{}, true, "DNS names"},
		{"curve changed", []string{"duckhoo.site", "www.duckhoo.site"}, KeySpec{"ECDSA", 384}, true, "ECDSA-256 to ECDSA-384"},
		{"algorithm changed", []string{"duckhoo.site", "www.duckhoo.site"}, KeySpec{"RSA", 0}, true, "ECDSA-256 to RSA-2048"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, why := NeedsReissue(p, c.names, c.key)
			if got != c.want || !strings.Contains(why, c.why) {
				t.Fatalf("NeedsReissue = %v %q, want %v containing %q", got, why, c.want, c.why)
			}
		})
	}
}

func TestSelfSignedVerifiesForAllNames(t *testing.T) {
	names := []string{"duckhoo.site", "www.duckhoo.site", "infra.duckhoo.site"}
	for _, key := range []KeySpec{{}, {"ECDSA", 384}, {"RSA", 2048}} {
		t.Run(key.String(), func(t *testing.T) {
			certPEM, keyPEM, err := SelfSigned(names, key, 30*24*time.Hour, t0)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParseTLSSecret(SecretData(certPEM, keyPEM, certPEM))
			if err != nil {
				t.Fatal(err)
			}
			if want := key.Normalized(); p.KeyAlgorithm != want.Algorithm || p.KeySize != want.Size {
				t.Fatalf("key %s-%d, want %s", p.KeyAlgorithm, p.KeySize, want)
			}
			if p.Leaf.Subject.CommonName != names[0] {
				t.Fatalf("CN %q, want %q", p.Leaf.Subject.CommonName, names[0])
			}
			checkVerifiesOnlyForNamesWhileValid(t, p.Leaf, certPEM, names, 31*24*time.Hour)
		})
	}
	if _, _, err := SelfSigned(nil, KeySpec{}, time.Hour, t0); err == nil {
		t.Error("no names accepted")
	}
	if _, _, err := SelfSigned(names, KeySpec{"RSA", 1024}, time.Hour, t0); err == nil {
		t.Error("RSA-1024 accepted")
	}
}

// checkVerifiesOnlyForNamesWhileValid verifies leaf, trusting rootPEM, for each of names at t0,
// and refuses it for a name it does not hold and at t0+expiredAfter.
func checkVerifiesOnlyForNamesWhileValid(t *testing.T, leaf *x509.Certificate, rootPEM []byte, names []string, expiredAfter time.Duration) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	for _, n := range names {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: n, Roots: roots, CurrentTime: t0,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.site", Roots: roots, CurrentTime: t0}); err == nil {
		t.Error("verifies for a name it does not hold")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: names[0], Roots: roots, CurrentTime: t0.Add(expiredAfter)}); err == nil {
		t.Error("verifies after its validity")
	}
}

func TestParseTLSSecret(t *testing.T) {
	certA, keyA, _ := SelfSigned([]string{"a.example"}, KeySpec{}, time.Hour, t0)
	_, keyB, _ := SelfSigned([]string{"b.example"}, KeySpec{}, time.Hour, t0)
	certR, keyR, _ := SelfSigned([]string{"r.example"}, KeySpec{"RSA", 3072}, time.Hour, t0)
	chained := append(append([]byte{}, certA...), certR...)
	cases := []parseTLSSecretCase{
		{"leaf only", SecretData(certA, keyA, nil), "", 0, "ECDSA-256"},
		{"leaf and chain", SecretData(chained, keyA, nil), "", 1, "ECDSA-256"},
		{"RSA", SecretData(certR, keyR, nil), "", 0, "RSA-3072"},
		{"key of another certificate", SecretData(certA, keyB, nil), "does not match", 0, ""},
		{"empty Secret", map[string][]byte{}, "no certificate", 0, ""},
		{"garbage certificate", SecretData([]byte("hello"), keyA, nil), "no PEM certificate", 0, ""},
		{"missing key", SecretData(certA, nil, nil), "tls.key", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, c.check)
	}
}

type parseTLSSecretCase struct {
	name      string
	data      map[string][]byte
	wantErr   string
	wantChain int
	wantKey   string
}

func (c parseTLSSecretCase) check(t *testing.T) {
	p, err := ParseTLSSecret(c.data)
	if c.wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Fatalf("err = %v, want %q", err, c.wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Chain) != c.wantChain {
		t.Fatalf("chain %d, want %d", len(p.Chain), c.wantChain)
	}
	if got := (KeySpec{p.KeyAlgorithm, p.KeySize}).String(); got != c.wantKey {
		t.Fatalf("key %s, want %s", got, c.wantKey)
	}
	if p.SerialHex != p.Leaf.SerialNumber.Text(16) || !p.NotAfter.Equal(p.Leaf.NotAfter) {
		t.Fatalf("serial/expiry not from the leaf: %+v", p)
	}
}

func TestSecretShapeAndAnnotations(t *testing.T) {
	if d := SecretData([]byte("c"), []byte("k"), nil); len(d) != 2 || d["tls.crt"] == nil || d["tls.key"] == nil {
		t.Fatalf("without CA: %v", d)
	}
	if d := SecretData([]byte("c"), []byte("k"), []byte("ca")); len(d) != 3 || string(d["ca.crt"]) != "ca" {
		t.Fatalf("with CA: %v", d)
	}
	a := Annotations(&Parsed{SerialHex: "ff01", NotAfter: t0}, "acme")
	want := map[string]string{"securesite.io/serial": "ff01", "securesite.io/not-after": "2026-11-01T12:00:00Z", "securesite.io/issuer": "acme"}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("%s = %q, want %q", k, a[k], v)
		}
	}
}

func TestTopOfChainIfRoot(t *testing.T) {
	root, _, _ := SelfSigned([]string{"root.example"}, KeySpec{}, time.Hour, t0)
	leaf, _, _ := SelfSigned([]string{"leaf.example"}, KeySpec{}, time.Hour, t0)
	if got := TopOfChainIfRoot(append(append([]byte{}, leaf...), root...)); !bytes.Equal(got, root) {
		t.Fatalf("self-signed top not returned")
	}
	// A chain that stops at an intermediate, as ACME returns it: no root to offer.
	inter := issuedBy(t, "intermediate.example")
	if got := TopOfChainIfRoot(inter); got != nil {
		t.Fatalf("intermediate returned as root")
	}
	if TopOfChainIfRoot([]byte("junk")) != nil {
		t.Fatal("junk returned")
	}
}

// issuedBy returns the PEM of a certificate signed by another, throwaway key.
func issuedBy(t *testing.T, cn string) []byte {
	t.Helper()
	caPEM, caKeyPEM, _ := SelfSigned([]string{"ca.example"}, KeySpec{}, time.Hour, t0)
	ca, _ := ParseCertificates(caPEM)
	caKey, _ := ParseKey(caKeyPEM)
	key, _, _ := GenerateKey(KeySpec{})
	tmpl := *ca[0]
	tmpl.Subject.CommonName = cn
	tmpl.DNSNames = []string{cn}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca[0], key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
