package testworld

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"golang.org/x/crypto/acme"
)

// The whole world works together: a DNS-01 TXT record written to kumo's Route53 is what pebble
// validates through the DNS server, and the issued certificate verifies against pebble's roots.
// The ACME client here is x/crypto/acme on purpose, independent of the project's own ACME code.
func TestWorldIssuesCertificateThroughRoute53(t *testing.T) {
	w := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const domain = "www.world.test"
	o := newIndependentACMEClient(t, ctx, w, "world.test")
	order, err := o.client.AuthorizeOrder(ctx, acme.DomainIDs(domain))
	if err != nil {
		t.Fatal(err)
	}
	for _, authzURL := range order.AuthzURLs {
		o.solveDNS01ThroughRoute53(authzURL, domain)
	}
	der := o.finalize(order, domain)
	checkVerifiesAgainstPebbleRoots(t, ctx, w, der, domain)

	// The API server part of the world answers kubectl with the project's CRDs.
	out, err := exec.Command("kubectl", "--kubeconfig", w.Kubeconfig, "get", "securesites", "-A").CombinedOutput()
	if err != nil {
		t.Errorf("kubectl get securesites: %v\n%s", err, out)
	}
}

// independentACMEClient is an x/crypto/acme account at the world's pebble that answers DNS-01
// challenges by writing TXT records to the world's Route53 zone.
type independentACMEClient struct {
	t      *testing.T
	ctx    context.Context
	client *acme.Client
	r53    *route53.Client
	zoneID string
}

func newIndependentACMEClient(t *testing.T, ctx context.Context, w *World, zone string) *independentACMEClient {
	zoneID := w.CreateHostedZone(ctx, zone)
	r53 := route53.NewFromConfig(w.AWSConfig(ctx).AWS)
	httpClient, err := w.Pebble.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	accountKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	client := &acme.Client{Key: accountKey, DirectoryURL: w.Pebble.DirectoryURL, HTTPClient: httpClient}
	if _, err := client.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	return &independentACMEClient{t: t, ctx: ctx, client: client, r53: r53, zoneID: zoneID}
}

// solveDNS01ThroughRoute53 writes the authorization's DNS-01 answer to Route53, accepts the
// challenge, and waits for pebble to validate it through the world's DNS server.
func (o *independentACMEClient) solveDNS01ThroughRoute53(authzURL, domain string) {
	t, ctx, client := o.t, o.ctx, o.client
	authz, err := client.GetAuthorization(ctx, authzURL)
	if err != nil {
		t.Fatal(err)
	}
	var chal *acme.Challenge
	for _, c := range authz.Challenges {
		if c.Type == "dns-01" {
			chal = c
		}
	}
	if chal == nil {
		t.Fatalf("no dns-01 challenge in %v", authz.Challenges)
	}
	value, err := client.DNS01ChallengeRecord(chal.Token)
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(o.zoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{
			Action: r53types.ChangeActionUpsert,
			ResourceRecordSet: &r53types.ResourceRecordSet{
				Name: aws.String("_acme-challenge." + domain), Type: r53types.RRTypeTxt, TTL: aws.Int64(60),
				ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(strconv.Quote(value))}},
			},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Accept(ctx, chal); err != nil {
		t.Fatal(err)
	}
	if _, err := client.WaitAuthorization(ctx, authzURL); err != nil {
		t.Fatalf("pebble did not validate the Route53 record: %v", err)
	}
}

// finalize waits for the order to be ready, sends a CSR for domain, and returns the chain (DER).
func (o *independentACMEClient) finalize(order *acme.Order, domain string) [][]byte {
	t, ctx := o.t, o.ctx
	order, err := o.client.WaitOrder(ctx, order.URI)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{domain}}, leafKey)
	if err != nil {
		t.Fatal(err)
	}
	der, _, err := o.client.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func checkVerifiesAgainstPebbleRoots(t *testing.T, ctx context.Context, w *World, der [][]byte, domain string) {
	t.Helper()
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		t.Fatal(err)
	}
	opts, err := w.Pebble.VerifyOptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	opts.DNSName = domain
	for _, c := range der[1:] {
		if ic, err := x509.ParseCertificate(c); err == nil {
			opts.Intermediates.AddCert(ic)
		}
	}
	if _, err := leaf.Verify(opts); err != nil {
		t.Errorf("issued certificate does not verify against pebble's roots: %v", err)
	}
}
