package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/registration"

	"github.com/securesite-io/securesite/internal/testworld"
)

// The pebble floor: how long pebble alone takes to issue n certificates (two names each, as the
// benchmark's sites ask for) to a minimal client, with DNS-01 validated for real through the test
// world's DNS server and kumo. The client is lego with one account, the TXT value UPSERTed
// straight into kumo and a 100 ms propagation poll, on as many workers as the manager's
// issuance pool: no Kubernetes, no ownership records, no batching, no status. The convergence
// run divided by it is the controller's overhead.

type floorUser struct {
	key crypto.Signer
	reg *legoacme.ExtendedAccount
}

func (u *floorUser) GetEmail() string                           { return "floor@bench.test" }
func (u *floorUser) GetRegistration() *legoacme.ExtendedAccount { return u.reg }
func (u *floorUser) GetPrivateKey() crypto.Signer               { return u.key }

// kumoTXT is the minimal DNS-01 provider: one UPSERT to present, one DELETE to clean up.
type kumoTXT struct {
	r53    *route53.Client
	zoneID string
}

func (k *kumoTXT) change(ctx context.Context, action r53types.ChangeAction, domain, keyAuth string) error {
	info := dns01.GetChallengeInfo(ctx, domain, keyAuth)
	_, err := k.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(k.zoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: action, ResourceRecordSet: &r53types.ResourceRecordSet{
			Name: aws.String(strings.TrimSuffix(info.EffectiveFQDN, ".")), Type: r53types.RRTypeTxt, TTL: aws.Int64(60),
			ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(`"` + info.Value + `"`)}}}}}}})
	return err
}

func (k *kumoTXT) Present(ctx context.Context, domain, _, keyAuth string) error {
	return k.change(ctx, r53types.ChangeActionUpsert, domain, keyAuth)
}

func (k *kumoTXT) CleanUp(ctx context.Context, domain, _, keyAuth string) error {
	return k.change(ctx, r53types.ChangeActionDelete, domain, keyAuth)
}

func (k *kumoTXT) Timeout() (time.Duration, time.Duration) {
	return time.Minute, 100 * time.Millisecond
}

// pebbleFloor issues n certificates on workers goroutines and returns the wall time and the
// number of failed orders.
func pebbleFloor(t *testing.T, w *testworld.World, n, workers int) (time.Duration, int) {
	t.Helper()
	ctx := context.Background()
	zone := "floor.test"
	zoneID := w.CreateHostedZone(ctx, zone)
	bundle, err := os.ReadFile(w.Pebble.CABundlePath)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundle)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u := &floorUser{key: key}
	cfg := lego.NewConfig(u)
	cfg.CADirURL = w.Pebble.DirectoryURL
	cfg.HTTPClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: workers}}
	client, err := lego.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u.reg, err = client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		t.Fatal(err)
	}
	dns01.SetDefaultClient(dns01.NewClient(&dns01.Options{RecursiveNameservers: []string{w.DNS.Addr()}}))
	r53 := route53.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(w.AWS.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testworld.EmulatorCredentials, nil })})
	if err := client.Challenge.SetDNS01Provider(&kumoTXT{r53: r53, zoneID: zoneID}, dns01.DisableAuthoritativeNssPropagationRequirement()); err != nil {
		t.Fatal(err)
	}
	var failed atomic.Int64
	start := time.Now()
	testworld.Parallel(n, workers, func(i int) {
		domain := fmt.Sprintf("f%05d.%s", i, zone)
		certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		_, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{Domains: []string{domain, "api." + domain}, PrivateKey: certKey, Bundle: true})
		if err != nil {
			failed.Add(1)
			t.Logf("floor order %d: %v", i, err)
		}
	})
	return time.Since(start), int(failed.Load())
}
