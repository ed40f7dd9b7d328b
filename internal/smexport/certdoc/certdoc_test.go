package certdoc

import (
	"strings"
	"testing"
	"time"

	"github.com/securesite-io/securesite/internal/certs"
	"github.com/securesite-io/securesite/internal/testworld/testpki"
)

func TestFromPEMSplitsLeafAndChain(t *testing.T) {
	ca := testpki.NewCA(t, "Test Intermediate")
	l := ca.IssueNow(t, "infra.duckhoo.site")
	other := ca.IssueNow(t, "other.duckhoo.site")

	tests := []fromPEMCase{
		{name: "leaf and chain", certChain: l.FullChain(ca), key: l.KeyPEM, wantChain: string(ca.PEM)},
		{name: "self-signed, no chain", certChain: l.CertPEM, key: l.KeyPEM, wantChain: ""},
		{name: "key of another certificate", certChain: l.FullChain(ca), key: other.KeyPEM, wantErr: "does not match"},
		{name: "no certificate", certChain: []byte("not pem"), key: l.KeyPEM, wantErr: "certificate:"},
		{name: "no key", certChain: l.FullChain(ca), key: nil, wantErr: "private key:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, l) })
	}
}

type fromPEMCase struct {
	name      string
	certChain []byte
	key       []byte
	wantErr   string
	wantChain string
}

// check: FromPEM refuses with wantErr, or splits certChain into l's certificate and key and
// wantChain, with l's serial and expiry, and gives certChain back whole.
func (tt fromPEMCase) check(t *testing.T, l testpki.Leaf) {
	d, err := FromPEM(tt.certChain, tt.key)
	if tt.wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Fatalf("err = %v, want %q", err, tt.wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if d.Certificate != string(l.CertPEM) || d.Chain != tt.wantChain || d.PrivateKey != string(l.KeyPEM) {
		t.Fatalf("split wrong: %+v", d)
	}
	if d.Serial != l.Serial || !d.NotAfter.Equal(l.Cert.NotAfter) {
		t.Fatalf("serial/notAfter = %s/%s, want %s/%s", d.Serial, d.NotAfter, l.Serial, l.Cert.NotAfter)
	}
	if string(d.FullChainPEM()) != string(tt.certChain) {
		t.Fatalf("FullChainPEM does not give tls.crt back:\n%s", d.FullChainPEM())
	}
}

func TestVerify(t *testing.T) {
	now := time.Now()
	ca := testpki.NewCA(t, "Test Intermediate")
	otherCA := testpki.NewCA(t, "Other Intermediate")
	good := ca.IssueNow(t, "infra.duckhoo.site")
	expired := ca.Issue(t, "infra.duckhoo.site", now.Add(-48*time.Hour), now.Add(-time.Hour))
	future := ca.Issue(t, "infra.duckhoo.site", now.Add(time.Hour), now.Add(48*time.Hour))
	other := ca.IssueNow(t, "other.duckhoo.site")
	doc := func(l testpki.Leaf, chain []byte) Document {
		return Document{Certificate: string(l.CertPEM), Chain: string(chain), PrivateKey: string(l.KeyPEM), Serial: l.Serial, NotAfter: l.Cert.NotAfter}
	}

	tests := []struct {
		name    string
		doc     Document
		wantErr string
	}{
		{name: "good", doc: doc(good, ca.PEM)},
		{name: "good, self-signed without chain", doc: doc(good, nil)},
		{name: "expired", doc: doc(expired, ca.PEM), wantErr: "expired at"},
		{name: "not yet valid", doc: doc(future, ca.PEM), wantErr: "not valid before"},
		{name: "key of another certificate", doc: func() Document { d := doc(good, ca.PEM); d.PrivateKey = string(other.KeyPEM); return d }(), wantErr: "private key does not match"},
		{name: "key garbage", doc: func() Document { d := doc(good, ca.PEM); d.PrivateKey = "-----BEGIN NOTHING-----"; return d }(), wantErr: "private key does not parse"},
		{name: "certificate garbage", doc: func() Document { d := doc(good, ca.PEM); d.Certificate = "junk"; return d }(), wantErr: "certificate does not parse"},
		{name: "chain garbage", doc: doc(good, []byte("junk")), wantErr: "chain does not parse"},
		{name: "chain of another issuer", doc: doc(good, otherCA.PEM), wantErr: "chain does not belong"},
		{name: "serial field lies", doc: func() Document { d := doc(good, ca.PEM); d.Serial = "abc"; return d }(), wantErr: "does not match the certificate's serial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.doc.Verify(now)
			if tt.wantErr == "" {
				if err != nil || v.Leaf.SerialNumber.Cmp(good.Cert.SerialNumber) != 0 {
					t.Fatalf("Verify = %v, %v", v, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{name: "document", in: `{"certificate":"C","chain":"","privateKey":"K","serial":"1","notAfter":"2026-01-01T00:00:00Z"}`},
		{name: "unknown fields from a newer controller", in: `{"certificate":"C","privateKey":"K","ocsp":"x"}`},
		{name: "not JSON", in: `-----BEGIN CERTIFICATE-----`, wantErr: "malformed JSON"},
		{name: "JSON of something else", in: `{"username":"u","password":"p"}`, wantErr: "certificate or privateKey is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// The export's serial is compared with status.certificate.serialNumber, which internal/certs spells.
func TestSerialMatchesTheControllersSpelling(t *testing.T) {
	ca := testpki.NewCA(t, "x")
	l := ca.IssueNow(t, "a.example")
	d, err := FromPEM(l.FullChain(ca), l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	p, err := certs.ParseTLSSecret(certs.SecretData(l.FullChain(ca), l.KeyPEM, nil))
	if err != nil {
		t.Fatal(err)
	}
	if d.Serial != p.SerialHex {
		t.Fatalf("export serial %s, controller serial %s", d.Serial, p.SerialHex)
	}
}
