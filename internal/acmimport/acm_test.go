package acmimport

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/testworld"
)

var cfg awsclient.Config

func TestMain(m *testing.M) {
	os.Exit(testworld.RunWithEmulator(m, func(_ *testworld.Emulator, c awsclient.Config) { cfg = c }))
}

func TestImportReimportDelete(t *testing.T) {
	ctx := context.Background()
	// A config for another region: New must still talk to us-east-1 (the ARN says so).
	regional := cfg.ForRegion("ap-northeast-2")
	c := New(regional)
	// kumo and moto answer on one endpoint whatever the region, so check the client itself.
	if r := c.api.Options().Region; r != "us-east-1" {
		t.Errorf("ACM client region = %s, want us-east-1", r)
	}
	raw := acm.NewFromConfig(cfg.AWS)
	imports := awsclient.CallCount("ACM", "ImportCertificate")

	ca, caKey := issue(t, nil, nil, "Test CA")
	leaf1, key1 := issue(t, ca, caKey, "duckhoo.site")
	bundle := append(pemCert(leaf1), pemCert(ca)...) // tls.crt shape: leaf then chain
	arn, err := c.Import(ctx, "", bundle, pemKey(t, key1), nil, map[string]string{"securesite.io/owner": "web/duckhoo"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := raw.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	// The bundle was split: ACM holds the leaf as the certificate and the CA as the chain (moto
	// appends a root of its own to the chain it returns, so only the start is compared).
	if !samePEM(aws.ToString(got.Certificate), pemCert(leaf1)) || !bytes.HasPrefix([]byte(aws.ToString(got.CertificateChain)), bytes.TrimSpace(pemCert(ca))) {
		t.Errorf("stored certificate/chain are not leaf/CA:\n%s\n--\n%s", aws.ToString(got.Certificate), aws.ToString(got.CertificateChain))
	}

	// Renewal: the new certificate goes to the same ARN, so the distribution needs no update.
	leaf2, key2 := issue(t, ca, caKey, "duckhoo.site")
	arn2, err := c.Import(ctx, arn, pemCert(leaf2), pemKey(t, key2), pemCert(ca), nil)
	if err != nil || arn2 != arn {
		t.Fatalf("re-import = %s, %v; want same ARN %s", arn2, err, arn)
	}
	got, err = raw.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil || !samePEM(aws.ToString(got.Certificate), pemCert(leaf2)) {
		t.Errorf("after re-import ACM holds the old certificate (%v)", err)
	}
	if n := awsclient.CallCount("ACM", "ImportCertificate") - imports; n != 2 {
		t.Errorf("ImportCertificate calls = %v, want 2", n)
	}
	// The owner tag sent with the first import is read back, and a re-import (which sends no
	// tags) keeps it: the controller checks it before re-importing over or deleting a
	// certificate named in status.
	if owner, found, err := c.Owner(ctx, arn, "securesite.io/owner"); err != nil || !found || owner != "web/duckhoo" {
		t.Errorf("Owner = %q, %v, %v; want web/duckhoo, found", owner, found, err)
	}
	if owner, found, err := c.Owner(ctx, arn, "securesite.io/other"); err != nil || !found || owner != "" {
		t.Errorf("Owner of a tag it does not carry = %q, %v, %v; want \"\", found", owner, found, err)
	}

	if err := c.Delete(ctx, arn); err != nil {
		t.Fatal(err)
	}
	// A certificate that is gone has no owner to compare: not found, not an error.
	if owner, found, err := c.Owner(ctx, arn, "securesite.io/owner"); err != nil || found {
		t.Errorf("Owner of a deleted certificate = %q, %v, %v; want not found", owner, found, err)
	}
	if _, err := raw.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(arn)}); awsclient.ErrorCode(err) != "ResourceNotFoundException" {
		t.Errorf("certificate still there after Delete: %v", err)
	}
	if err := c.Delete(ctx, arn); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
}

func TestImportRejectsDataWithoutCertificate(t *testing.T) {
	_, err := New(cfg.AWS).Import(context.Background(), "", []byte("not pem"), []byte("k"), nil, nil)
	if err == nil {
		t.Fatal("Import accepted data without a certificate")
	}
}

func issue(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
	}
	signer := key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
		parent = tmpl
	} else {
		tmpl.DNSNames = []string{cn}
		signer = parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func pemKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func samePEM(got string, want []byte) bool {
	return bytes.Equal(bytes.TrimSpace([]byte(got)), bytes.TrimSpace(want))
}

// lostAnswer is a retryable failure after ACM carried the request out: a timeout or a 5xx on the
// way back, which the SDK retries on its own.
type lostAnswer struct{}

func (lostAnswer) Error() string        { return "connection reset after the request was sent" }
func (lostAnswer) RetryableError() bool { return true }

// A first import whose answer is lost leaves exactly one certificate: the import is not resent
// blindly, and the certificate is found again by its tags (owner, domain, serial).
func TestFirstImportWithLostAnswerLeavesNoOrphan(t *testing.T) {
	ctx := context.Background()
	lossy := cfg.AWS.Copy()
	lost := 0
	lossy.APIOptions = append(slices.Clone(lossy.APIOptions), func(s *middleware.Stack) error {
		return s.Deserialize.Add(middleware.DeserializeMiddlewareFunc("lose-answer", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if err == nil && awsmiddleware.GetOperationName(ctx) == "ImportCertificate" && lost == 0 {
				lost++
				return middleware.DeserializeOutput{}, md, lostAnswer{}
			}
			return out, md, err
		}), middleware.Before)
	})
	ca, caKey := issue(t, nil, nil, "Test CA")
	leaf, key := issue(t, ca, caKey, "lost.example")
	tags := map[string]string{"securesite.io/owner": "web/lost", "securesite.io/domain": "lost.example"}
	arn, err := New(lossy).Import(ctx, "", pemCert(leaf), pemKey(t, key), pemCert(ca), tags)
	if err != nil {
		t.Fatalf("Import after a lost answer = %v", err)
	}
	if lost != 1 {
		t.Fatalf("the answer was not lost (%d)", lost)
	}
	// The next pass (a restart that never saw the ARN) imports the same certificate again.
	again, err := New(cfg.AWS).Import(ctx, "", pemCert(leaf), pemKey(t, key), pemCert(ca), tags)
	if err != nil || again != arn {
		t.Errorf("second first-import = %s, %v; want %s", again, err, arn)
	}
	if n := countTagged(t, tags); n != 1 {
		t.Errorf("%d certificates tagged %v, want 1", n, tags)
	}
}

func countTagged(t *testing.T, tags map[string]string) int {
	t.Helper()
	ctx := context.Background()
	raw := acm.NewFromConfig(cfg.AWS)
	p := acm.NewListCertificatesPaginator(raw, &acm.ListCertificatesInput{Includes: &acmtypes.Filters{KeyTypes: allKeyTypes}})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.CertificateSummaryList {
			out, err := raw.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: s.CertificateArn})
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]string{}
			for _, tg := range out.Tags {
				have[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
			}
			if hasAll(have, tags) {
				n++
			}
		}
	}
	return n
}

// AWS refuses a re-import that changes the key algorithm or size (a change of
// spec.certificate.privateKey); such a certificate goes to a new ARN and the old one is left for
// the caller to retire once the distribution no longer uses it.
func TestReimportWithAnotherKeyTypeGoesToANewARN(t *testing.T) {
	ctx := context.Background()
	c := New(cfg.AWS)
	ca, caKey := issue(t, nil, nil, "Test CA")
	leaf, key := issue(t, ca, caKey, "rekey.example")
	tags := map[string]string{"securesite.io/owner": "web/rekey"}
	arn, err := c.Import(ctx, "", pemCert(leaf), pemKey(t, key), pemCert(ca), tags)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "rekey.example"}, DNSNames: []string{"rekey.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &rsaKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaLeaf, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	arn2, err := c.Import(ctx, arn, pemCert(rsaLeaf), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), pemCert(ca), tags)
	if err != nil {
		t.Fatal(err)
	}
	if arn2 == arn {
		t.Fatalf("an RSA certificate was re-imported over an ECDSA one at %s; AWS refuses that", arn)
	}
	raw := acm.NewFromConfig(cfg.AWS)
	desc, err := raw.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn2)})
	if err != nil || desc.Certificate.KeyAlgorithm != acmtypes.KeyAlgorithmRsa2048 {
		t.Errorf("new certificate: %v %v", desc, err)
	}
	if exists, err := c.Exists(ctx, arn); err != nil || !exists {
		t.Errorf("old certificate gone (%v, %v): the caller retires it once unused", exists, err)
	}
	// Renewal with the same key type stays at the new ARN.
	if again, err := c.Import(ctx, arn2, pemCert(rsaLeaf), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), pemCert(ca), tags); err != nil || again != arn2 {
		t.Errorf("same-key re-import = %s, %v; want %s", again, err, arn2)
	}
}

// A certificate deleted out of band (by hand, or by a cleanup script) is imported anew at the next
// re-import instead of failing every pass with ResourceNotFoundException.
func TestReimportToADeletedCertificateImportsAnew(t *testing.T) {
	ctx := context.Background()
	c := New(cfg.AWS)
	ca, caKey := issue(t, nil, nil, "Test CA")
	leaf, key := issue(t, ca, caKey, "gone.example")
	tags := map[string]string{"securesite.io/owner": "web/gone"}
	arn, err := c.Import(ctx, "", pemCert(leaf), pemKey(t, key), pemCert(ca), tags)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acm.NewFromConfig(cfg.AWS).DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	renewed, renewedKey := issue(t, ca, caKey, "gone.example")
	arn2, err := c.Import(ctx, arn, pemCert(renewed), pemKey(t, renewedKey), pemCert(ca), tags)
	if err != nil || arn2 == "" || arn2 == arn {
		t.Fatalf("re-import to a deleted ARN = %q, %v; want a new ARN", arn2, err)
	}
	if exists, err := c.Exists(ctx, arn2); err != nil || !exists {
		t.Errorf("new certificate %s: exists %v, %v", arn2, exists, err)
	}
}

// A first import looks for an earlier attempt among the certificates of its own names only: the
// tags of another site's certificate are not read, so the cost does not grow with the account.
func TestFirstImportReadsTagsOfItsOwnNamesOnly(t *testing.T) {
	ctx := context.Background()
	ca, caKey := issue(t, nil, nil, "Test CA")
	for i := range 3 {
		other, key := issue(t, ca, caKey, fmt.Sprintf("other-%d.names.example", i))
		if _, err := New(cfg.AWS).Import(ctx, "", pemCert(other), pemKey(t, key), pemCert(ca), map[string]string{"securesite.io/owner": fmt.Sprintf("web/other-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	counting := cfg.AWS.Copy()
	tagReads := 0
	counting.APIOptions = append(slices.Clone(counting.APIOptions), func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("count-tag-reads", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if awsmiddleware.GetOperationName(ctx) == "ListTagsForCertificate" {
				tagReads++
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
	})
	leaf, key := issue(t, ca, caKey, "own.names.example")
	arn, err := New(counting).Import(ctx, "", pemCert(leaf), pemKey(t, key), pemCert(ca), map[string]string{"securesite.io/owner": "web/own"})
	if err != nil || arn == "" {
		t.Fatalf("Import = %q, %v", arn, err)
	}
	if tagReads != 0 {
		t.Errorf("the first import read the tags of %d certificates; want none (no earlier certificate of own.names.example)", tagReads)
	}
}
