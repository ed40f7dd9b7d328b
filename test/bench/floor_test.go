package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
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

// floorRequestTimeout bounds one request to pebble. A look at the order that gets no answer in
// time is asked again: in the first N = 1,000 run with this client one of them went unanswered
// until the client's 1 minute timeout, and the floor measured that minute instead of pebble.
const floorRequestTimeout = 10 * time.Second

// floorClient is the minimal ACME client: lego's protocol layer (acme/api) with one account.
type floorClient struct {
	core    *api.Core
	r53     *route53.Client
	zoneID  string
	dnsAddr string
	dns     *dns.Client
	phases  floorPhases
}

// The steps of a floor order, in order, for the time each takes.
const (
	phaseOrder    = iota // new order
	phaseAuthz           // its authorizations read
	phaseWrite           // the TXT values written to Route53
	phaseServed          // until the DNS server serves them
	phaseValidate        // challenges accepted until the order is ready
	phaseIssue           // finalize until the order is valid
	phaseDownload        // the certificate downloaded
	phaseCleanup         // the TXT values removed
	phaseCount
)

var phaseNames = [phaseCount]string{"new order", "authorizations read", "TXT write", "DNS serves it", "CA validates", "finalize → issued", "download", "TXT removal"}

// floorPhases adds up the time orders spend in each step.
type floorPhases struct {
	total  [phaseCount]atomic.Int64 // nanoseconds
	orders atomic.Int64
	// pollTimeouts counts looks at an order that went unanswered and were asked again.
	pollTimeouts atomic.Int64
}

// since adds the time since t to phase p and returns now, the start of the next step.
func (f *floorPhases) since(p int, t time.Time) time.Time {
	now := time.Now()
	f.total[p].Add(int64(now.Sub(t)))
	return now
}

// String is each step's mean time per order: "new order 12ms, TXT write 8ms, …".
func (f *floorPhases) String() string {
	n := max(f.orders.Load(), 1)
	parts := make([]string, phaseCount)
	for p := range phaseCount {
		parts[p] = fmt.Sprintf("%s %s", phaseNames[p], (time.Duration(f.total[p].Load()) / time.Duration(n)).Round(time.Millisecond))
	}
	return fmt.Sprintf("%s; order looks asked again after %s without an answer: %d",
		strings.Join(parts, ", "), floorRequestTimeout, f.pollTimeouts.Load())
}

func newFloorClient(ctx context.Context, t *testing.T, w *testworld.World, zoneID string, workers int) *floorClient {
	t.Helper()
	bundle, err := os.ReadFile(w.Pebble.CABundlePath)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundle)
	httpClient := &http.Client{Timeout: floorRequestTimeout, Transport: &http.Transport{
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
	took, failed, phases := pebbleFloor(t, w, n, issuanceWorkers)
	t.Logf("pebble floor: %d certificates, %d orders at a time: %s (%d failed); per order: %s",
		n, issuanceWorkers, took.Round(100*time.Millisecond), failed, phases)
	if failed > 0 {
		t.Errorf("%d of %d floor orders failed", failed, n)
	}
}

// pebbleFloor issues n certificates on workers goroutines and returns the wall time, the number
// of failed orders, and the mean time per order of each step.
func pebbleFloor(t *testing.T, w *testworld.World, n, workers int) (time.Duration, int, string) {
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
	return time.Since(start), int(failed.Load()), c.phases.String()
}

// floorTXT is one DNS-01 record: its name (no trailing dot) and value.
type floorTXT struct{ fqdn, value string }

// obtain runs one order from new order to downloaded certificate, and removes its TXT values.
func (c *floorClient) obtain(ctx context.Context, domains []string) error {
	t := time.Now()
	order, err := c.core.Orders.New(ctx, domains, nil)
	if err != nil {
		return fmt.Errorf("new order: %w", err)
	}
	t = c.phases.since(phaseOrder, t)
	challenges, records, err := c.dnsChallenges(ctx, order.Authorizations)
	if err != nil {
		return err
	}
	t = c.phases.since(phaseAuthz, t)
	if err := c.changeTXT(ctx, r53types.ChangeActionUpsert, records); err != nil {
		return fmt.Errorf("writing the TXT records: %w", err)
	}
	t = c.phases.since(phaseWrite, t)
	err = c.authorizeAndIssue(ctx, order, challenges, records, domains, t)
	t = time.Now()
	if cerr := c.changeTXT(context.WithoutCancel(ctx), r53types.ChangeActionDelete, records); cerr != nil && err == nil {
		err = fmt.Errorf("removing the TXT records: %w", cerr)
	}
	c.phases.since(phaseCleanup, t)
	c.phases.orders.Add(1)
	return err
}

// authorizeAndIssue waits until the DNS server serves the records, accepts the challenges, and
// finalizes and downloads the certificate once the CA has validated them; t is when it started.
func (c *floorClient) authorizeAndIssue(ctx context.Context, order legoacme.ExtendedOrder, challenges []legoacme.Challenge,
	records []floorTXT, domains []string, t time.Time,
) error {
	for _, r := range records {
		if err := c.waitServed(ctx, r); err != nil {
			return err
		}
	}
	t = c.phases.since(phaseServed, t)
	for _, ch := range challenges {
		if _, err := c.core.Challenges.New(ctx, ch.URL); err != nil {
			return fmt.Errorf("accepting the challenge: %w", err)
		}
	}
	if _, err := c.waitOrder(ctx, order.Location, legoacme.StatusReady); err != nil {
		return err
	}
	t = c.phases.since(phaseValidate, t)
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
	t = c.phases.since(phaseIssue, t)
	if _, err := c.core.Certificates.Get(ctx, done.Certificate, true); err != nil {
		return fmt.Errorf("downloading the certificate: %w", err)
	}
	c.phases.since(phaseDownload, t)
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
		// RFC 8555 §8.4, without lego's GetChallengeInfo: that looks for a CNAME at the name first,
		// through the machine's resolver, which the floor has no use for.
		sum := sha256.Sum256([]byte(keyAuth))
		challenges = append(challenges, authz.Challenges[i])
		records = append(records, floorTXT{fqdn: "_acme-challenge." + authz.Identifier.Value, value: base64.RawURLEncoding.EncodeToString(sum[:])})
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
		var netErr net.Error
		switch {
		case err != nil && errors.As(err, &netErr) && netErr.Timeout() && time.Now().Before(deadline):
			c.phases.pollTimeouts.Add(1)
			continue
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
