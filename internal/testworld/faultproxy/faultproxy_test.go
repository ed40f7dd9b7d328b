package faultproxy_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	dto "github.com/prometheus/client_model/go"

	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/testworld"
	"github.com/securesite-io/securesite/internal/testworld/faultproxy"
)

// attempts reads awsclient.Calls for one service, operation and result.
func attempts(t *testing.T, service, op, result string) float64 {
	t.Helper()
	var m dto.Metric
	if err := awsclient.Calls.WithLabelValues(service, op, result).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestFaultsAreRetriedBySDK sends real SDK calls through the proxy, with only one kind of fault
// enabled, until one was injected: the SDK must read the fault as the AWS error code (the metric's
// result label) and retry it, so the call itself succeeds.
func TestFaultsAreRetriedBySDK(t *testing.T) {
	kumo, err := testworld.StartEmulator(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kumo.Stop)
	ctx := context.Background()
	r53, cf, s3c, acmc, sm := listCalls(ctx)
	tests := []struct {
		kind faultproxy.Kind
		call sdkCall
	}{
		{faultproxy.Throttling, r53},
		{faultproxy.PriorRequestNotComplete, r53},
		{faultproxy.InternalError, r53},
		{faultproxy.ServiceUnavailable, r53},
		{faultproxy.ConnectionLost, r53},
		{faultproxy.Throttling, cf},
		{faultproxy.ServiceUnavailable, cf},
		{faultproxy.SlowDown, s3c},
		{faultproxy.InternalError, s3c},
		{faultproxy.ConnectionLost, s3c},
		{faultproxy.ThrottlingException, acmc},
		{faultproxy.ThrottlingException, sm},
		{faultproxy.InternalError, sm},
		{faultproxy.ConnectionLost, acmc},
		{faultproxy.ResponseLost, r53},
	}
	for _, tc := range tests {
		t.Run(string(tc.kind)+" "+tc.call.service, func(t *testing.T) {
			checkFaultRetriedToSuccess(t, ctx, kumo.URL, tc.kind, tc.call)
		})
	}
}

// sdkCall is one read-only SDK call of a service, and the awsclient.Calls labels it counts under.
type sdkCall struct {
	service, op string // awsclient.Calls labels
	svc         faultproxy.Service
	do          func(awsclient.Config) error
}

// listCalls: a List call of Route53, CloudFront, S3, ACM and Secrets Manager.
func listCalls(ctx context.Context) (r53, cf, s3c, acmc, sm sdkCall) {
	r53 = sdkCall{"Route 53", "ListHostedZones", faultproxy.Route53, func(c awsclient.Config) error {
		_, err := route53.NewFromConfig(c.AWS).ListHostedZones(ctx, &route53.ListHostedZonesInput{})
		return err
	}}
	cf = sdkCall{"CloudFront", "ListDistributions", faultproxy.CloudFront, func(c awsclient.Config) error {
		_, err := cloudfront.NewFromConfig(c.AWS).ListDistributions(ctx, &cloudfront.ListDistributionsInput{})
		return err
	}}
	s3c = sdkCall{"S3", "ListBuckets", faultproxy.S3, func(c awsclient.Config) error {
		_, err := s3.NewFromConfig(c.AWS, func(o *s3.Options) { o.UsePathStyle = true }).ListBuckets(ctx, &s3.ListBucketsInput{})
		return err
	}}
	acmc = sdkCall{"ACM", "ListCertificates", faultproxy.JSON, func(c awsclient.Config) error {
		_, err := acm.NewFromConfig(c.AWS).ListCertificates(ctx, &acm.ListCertificatesInput{})
		return err
	}}
	sm = sdkCall{"Secrets Manager", "ListSecrets", faultproxy.JSON, func(c awsclient.Config) error {
		_, err := secretsmanager.NewFromConfig(c.AWS).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
		return err
	}}
	return r53, cf, s3c, acmc, sm
}

// checkFaultRetriedToSuccess repeats call through a proxy that injects only kind until one was
// injected: each call succeeds, and awsclient counted the injected attempts under the fault's label.
func checkFaultRetriedToSuccess(t *testing.T, ctx context.Context, emulatorURL string, kind faultproxy.Kind, call sdkCall) {
	p, err := faultproxy.Start(emulatorURL, faultproxy.Options{Rate: 0.5, Seed: 7, Kinds: []faultproxy.Kind{kind}, Hang: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg, err := awsclient.Load(ctx, awsclient.Options{
		Region: "us-east-1", EndpointURL: p.URL, StaticCredentials: &testworld.EmulatorCredentials,
		MaxAttempts: 10, MaxBackoff: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	label := string(kind)
	if kind == faultproxy.ResponseLost {
		label = "error" // the SDK cannot tell it from a lost connection
	}
	before := attempts(t, call.service, call.op, label)
	for i := 0; p.Injected()[call.svc][kind] == 0; i++ {
		if i == 20 {
			t.Fatal("no fault injected in 20 calls at rate 0.5")
		}
		if err := call.do(cfg); err != nil {
			t.Fatalf("call not retried to success: %v", err)
		}
	}
	injected := p.Injected()[call.svc][kind]
	// At most: net/http itself replays a GET whose reused connection closed without an
	// answer, so the SDK may never see a lost connection the proxy counted.
	if got := attempts(t, call.service, call.op, label) - before; got < 1 || got > float64(injected) {
		t.Errorf("awsclient counted %g attempts with result %q, proxy injected %d", got, label, injected)
	}
}

// TestEdgeAndDeterminism: kumo's CloudFront edge path is never failed (it is not an AWS API call),
// and the same seed gives the same verdicts.
func TestEdgeAndDeterminism(t *testing.T) {
	verdicts := func() []int {
		p, err := faultproxy.Start("http://127.0.0.1:1", faultproxy.Options{Rate: 0.3, Seed: 42, Kinds: []faultproxy.Kind{faultproxy.Throttling}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var out []int
		for range 50 {
			rec := httptest.NewRecorder()
			p.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/2013-04-01/hostedzone", nil))
			out = append(out, rec.Code)
		}
		for range 50 {
			p.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/kumo/cdn/E123/index.html", nil))
		}
		if got := p.Injected()[faultproxy.Other]; len(got) != 0 {
			t.Errorf("faults injected on the edge path: %v", got)
		}
		return out
	}
	a, b := verdicts(), verdicts()
	fails := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("request %d: %d then %d with the same seed", i, a[i], b[i])
		}
		if a[i] == 400 {
			fails++
		}
	}
	if fails < 5 || fails > 25 {
		t.Errorf("%d of 50 requests throttled at rate 0.3", fails)
	}
}
