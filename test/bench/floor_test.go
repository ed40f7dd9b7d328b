package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/miekg/dns"

	"github.com/securesite-io/securesite/internal/testworld"
)

// The pebble floor: how long pebble alone takes to issue n certificates (two names each, as the
// benchmark's sites ask for) to a minimal client, with DNS-01 validated for real through the test
// world's DNS server and kumo, on as many workers as the manager's issuance pool. The client does
// what any DNS-01 client must and nothing else: a new order; both names' TXT values in one Route53
// change, straight into kumo; a look at the DNS server until it serves them; both challenges
// accepted at once; the order polled every floorPoll until ready; finalize, poll until valid,
// download; the values removed in one change. No Kubernetes, no ownership records, no status, no
// waits of its own. The convergence run divided by it is the controller's overhead.

// floorPoll is the floor client's interval between looks at the DNS server and at the order.
const floorPoll = 100 * time.Millisecond

// floorClient is the minimal ACME client: lego's protocol layer (acme/api) with one account.
type floorClient struct {
	core    *api.Core
	r53     *route53.Client
	zoneID  string
	dnsAddr string
	dns     *dns.Client
}

func newFloorClient(ctx context.Context, t *testing.T, w *testworld.World, zoneID string, workers int) *floorClient {
	t.Helper()
	bundle, err := os.ReadFile(w.Pebble.CABundlePath)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundle)
	httpClient := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: workers}}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	core, err := api.New(httpClient, "securesite-bench-floor", w.Pebble.DirectoryURL, "", key)
	if err != nil {
		t.Fatal(err)
	}
	// Registering sets the account URL as the key id of every later request.
	if _, err := core.Accounts.New(ctx, legoacme.Account{TermsOfServiceAgreed: true}); err != nil {
		t.Fatal(err)
	}
	r53 := route53.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(w.AWS.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testworld.EmulatorCredentials, nil })})
	return &floorClient{core: core, r53: r53, zoneID: zoneID, dnsAddr: w.DNS.Addr(), dns: &dns.Client{Timeout: 2 * time.Second}}
}

// TestPebbleFloor measures the floor on its own (TestBenchmark measures it before the controller's
// run): SECURESITE_FLOOR_N=100 go test -count=1 -run TestPebbleFloor -v ./test/bench/
func TestPebbleFloor(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SECURESITE_FLOOR_N"))
	if n <= 0 {
		t.Skip("set SECURESITE_FLOOR_N=100 to measure the pebble floor alone")
	}
	w := testworld.Start(t, testworld.WithDNSZoneCache(250*time.Millisecond))
	took, failed := pebbleFloor(t, w, n, issuanceWorkers)
	t.Logf("pebble floor: %d certificates, %d orders at a time: %s (%d failed)", n, issuanceWorkers, took.Round(100*time.Millisecond), failed)
	if failed > 0 {
		t.Errorf("%d of %d floor orders failed", failed, n)
	}
}

// pebbleFloor issues n certificates on workers goroutines and returns the wall time and the
// number of failed orders.
func pebbleFloor(t *testing.T, w *testworld.World, n, workers int) (time.Duration, int) {
	t.Helper()
	ctx := context.Background()
	zone := "floor.test"
	c := newFloorClient(ctx, t, w, w.CreateHostedZone(ctx, zone), workers)
	var failed atomic.Int64
	start := time.Now()
	testworld.Parallel(n, workers, func(i int) {
		domain := fmt.Sprintf("f%05d.%s", i, zone)
		if err := c.obtain(ctx, []string{domain, "api." + domain}); err != nil {
			failed.Add(1)
			t.Logf("floor order %d: %v", i, err)
		}
	})
	return time.Since(start), int(failed.Load())
}

// floorTXT is one DNS-01 record: its name (no trailing dot) and value.
type floorTXT struct{ fqdn, value string }

// obtain runs one order from new order to downloaded certificate.
func (c *floorClient) obtain(ctx context.Context, domains []string) error {
	order, err := c.core.Orders.New(ctx, domains, nil)
	if err != nil {
		return fmt.Errorf("new order: %w", err)
	}
	challenges, records, err := c.dnsChallenges(ctx, order.Authorizations)
	if err != nil {
		return err
	}
	if err := c.changeTXT(ctx, r53types.ChangeActionUpsert, records); err != nil {
		return fmt.Errorf("writing the TXT records: %w", err)
	}
	defer func() { _ = c.changeTXT(context.WithoutCancel(ctx), r53types.ChangeActionDelete, records) }()
	for _, r := range records {
		if err := c.waitServed(ctx, r); err != nil {
			return err
		}
	}
	for _, ch := range challenges {
		if _, err := c.core.Challenges.New(ctx, ch.URL); err != nil {
			return fmt.Errorf("accepting the challenge: %w", err)
		}
	}
	if _, err := c.waitOrder(ctx, order.Location, legoacme.StatusReady); err != nil {
		return err
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: domains}, key)
	if err != nil {
		return err
	}
	if _, err := c.core.Orders.UpdateForCSR(ctx, order.Finalize, csr); err != nil {
		return fmt.Errorf("finalize: %w", err)
	}
	done, err := c.waitOrder(ctx, order.Location, legoacme.StatusValid)
	if err != nil {
		return err
	}
	if _, err := c.core.Certificates.Get(ctx, done.Certificate, true); err != nil {
		return fmt.Errorf("downloading the certificate: %w", err)
	}
	return nil
}

// dnsChallenges reads the order's authorizations and returns their DNS-01 challenges and the TXT
// records that answer them.
func (c *floorClient) dnsChallenges(ctx context.Context, authzURLs []string) ([]legoacme.Challenge, []floorTXT, error) {
	var challenges []legoacme.Challenge
	var records []floorTXT
	for _, u := range authzURLs {
		authz, err := c.core.Authorizations.Get(ctx, u)
		if err != nil {
			return nil, nil, fmt.Errorf("authorization: %w", err)
		}
		i := slices.IndexFunc(authz.Challenges, func(ch legoacme.Challenge) bool { return ch.Type == string(challenge.DNS01) })
		if i < 0 {
			return nil, nil, fmt.Errorf("no dns-01 challenge for %s", authz.Identifier.Value)
		}
		keyAuth, err := c.core.GetKeyAuthorization(authz.Challenges[i].Token)
		if err != nil {
			return nil, nil, err
		}
		info := dns01.GetChallengeInfo(ctx, authz.Identifier.Value, keyAuth)
		challenges = append(challenges, authz.Challenges[i])
		records = append(records, floorTXT{fqdn: strings.TrimSuffix(info.EffectiveFQDN, "."), value: info.Value})
	}
	return challenges, records, nil
}

// changeTXT writes (UPSERT) or removes (DELETE) the records in one Route53 change.
func (c *floorClient) changeTXT(ctx context.Context, action r53types.ChangeAction, records []floorTXT) error {
	changes := make([]r53types.Change, len(records))
	for i, r := range records {
		changes[i] = r53types.Change{Action: action, ResourceRecordSet: &r53types.ResourceRecordSet{
			Name: aws.String(r.fqdn), Type: r53types.RRTypeTxt, TTL: aws.Int64(60),
			ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(`"` + r.value + `"`)}}}}
	}
	_, err := c.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(c.zoneID), ChangeBatch: &r53types.ChangeBatch{Changes: changes}})
	return err
}

// waitServed asks the test world's DNS server for the record until its answer holds the value:
// asking the CA earlier would fail the challenge (pebble looks once). The server answers from a
// read of the zone at most 250 ms old, so a value just written may take that long to show.
func (c *floorClient) waitServed(ctx context.Context, r floorTXT) error {
	deadline := time.Now().Add(time.Minute)
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(r.fqdn), dns.TypeTXT)
	for {
		if resp, _, err := c.dns.ExchangeContext(ctx, q, c.dnsAddr); err == nil {
			for _, rr := range resp.Answer {
				if txt, ok := rr.(*dns.TXT); ok && strings.Join(txt.Txt, "") == r.value {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not served after a minute", r.fqdn)
		}
		time.Sleep(floorPoll)
	}
}

// waitOrder polls the order until it has status want, failing when it turns invalid.
func (c *floorClient) waitOrder(ctx context.Context, orderURL, want string) (legoacme.Order, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		o, err := c.core.Orders.Get(ctx, orderURL)
		switch {
		case err != nil:
			return legoacme.Order{}, fmt.Errorf("polling the order: %w", err)
		case o.Status == want:
			return o.Order, nil
		case o.Status == legoacme.StatusInvalid:
			return legoacme.Order{}, fmt.Errorf("order invalid: %w", o.Err())
		case time.Now().After(deadline):
			return legoacme.Order{}, errors.New("order not " + want + " after a minute (" + o.Status + ")")
		}
		time.Sleep(floorPoll)
	}
}
