package acme_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/securesite-io/securesite/internal/testworld"
	"github.com/securesite-io/securesite/internal/testworld/dnsserver"
)

// world is the real test world shared by the tests of this package: kumo (Route53), the DNS server
// answering from it, pebble validating DNS-01 through that server, and an API server for the
// account Secrets.
var world struct {
	r53       *route53.Client
	zoneID    string
	zone      string
	dnsAddr   string
	directory string
	caBundle  []byte         // trusts pebble's HTTPS listener
	roots     *x509.CertPool // pebble's issuing root
	k8s       client.Client
	namespace string
}

func TestMain(m *testing.M) {
	code, err := runWorld(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "test world:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// runWorld starts the world, runs the tests, and stops the world in reverse order.
func runWorld(m *testing.M) (int, error) {
	ctx := context.Background()
	logDir, err := os.MkdirTemp("", "acme-test-world-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(logDir)

	kumo, err := testworld.StartEmulator(logDir)
	if err != nil {
		return 0, err
	}
	defer kumo.Stop()
	if err := createWorldZone(ctx, kumo); err != nil {
		return 0, err
	}

	dns, err := dnsserver.Start(kumo.DirectURL) // the emulator itself, as the test world's DNS server reads it
	if err != nil {
		return 0, err
	}
	defer dns.Stop()
	world.dnsAddr = dns.Addr()

	pebble, err := testworld.StartPebble(world.dnsAddr, logDir)
	if err != nil {
		return 0, err
	}
	defer pebble.Stop()
	if err := trustPebble(ctx, pebble); err != nil {
		return 0, err
	}

	env, restCfg, err := testworld.StartAPIServerLogs(logDir)
	if err != nil {
		return 0, fmt.Errorf("API server: %w", err)
	}
	defer func() { _ = env.Stop() }()
	if err := createAccountNamespace(ctx, restCfg); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// createWorldZone creates the hosted zone the tests issue certificates in.
func createWorldZone(ctx context.Context, kumo *testworld.Emulator) error {
	cfg, err := kumo.AWSConfig(ctx)
	if err != nil {
		return err
	}
	world.r53 = route53.NewFromConfig(cfg.AWS)
	world.zone = "securesite.test"
	hz, err := world.r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name: aws.String(world.zone), CallerReference: aws.String(fmt.Sprint(time.Now().UnixNano())),
	})
	if err != nil {
		return err
	}
	world.zoneID = aws.ToString(hz.HostedZone.Id)
	return nil
}

// trustPebble records pebble's directory, the bundle that trusts its HTTPS listener, and its
// issuing roots.
func trustPebble(ctx context.Context, pebble *testworld.Pebble) error {
	world.directory = pebble.DirectoryURL
	var err error
	if world.caBundle, err = os.ReadFile(pebble.CABundlePath); err != nil {
		return err
	}
	roots, err := pebble.RootCAs(ctx)
	if err != nil {
		return err
	}
	world.roots = x509.NewCertPool()
	for _, r := range roots {
		world.roots.AddCert(r)
	}
	return nil
}

// createAccountNamespace connects to the API server and creates the controller's namespace, where
// the ACME account Secrets live.
func createAccountNamespace(ctx context.Context, restCfg *rest.Config) error {
	var err error
	if world.k8s, err = client.New(restCfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		return err
	}
	world.namespace = "securesite-system"
	ns := &corev1.Namespace{}
	ns.Name = world.namespace
	return world.k8s.Create(ctx, ns)
}
