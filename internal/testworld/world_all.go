package testworld

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/securesite-io/securesite/internal/awsclient"
	"github.com/securesite-io/securesite/internal/testworld/dnsserver"
)

// World is the whole offline test world for one test.
type World struct {
	// AWS is the run's AWS emulator (kumo or moto, see EmulatorName) behind its normalising proxy.
	AWS        *Emulator
	DNS        *dnsserver.Server
	Pebble     *Pebble
	APIServer  *envtest.Environment
	RESTConfig *rest.Config // a system:masters user
	Kubeconfig string       // file for kubectl, same user
	// LogDir holds kumo.log or moto.log, pebble.log, etcd.log, kube-apiserver.log.
	LogDir string

	t testing.TB
}

// WorldOption changes what Start starts.
type WorldOption func(*worldOptions)

type worldOptions struct {
	pebble    PebbleOptions
	dnsMaxAge time.Duration
	// noClass: no default SecureSiteClass (tests of sharing a cluster make their own).
	noClass bool
}

// WithoutDefaultClass starts the API server without the default SecureSiteClass (DefaultClass).
func WithoutDefaultClass() WorldOption {
	return func(w *worldOptions) { w.noClass = true }
}

// WithDNSZoneCache lets one read of a zone answer the DNS server's queries for maxAge (benchmarks
// with thousands of records; see dnsserver.StartWith).
func WithDNSZoneCache(maxAge time.Duration) WorldOption {
	return func(w *worldOptions) { w.dnsMaxAge = maxAge }
}

// WithPebbleOptions starts pebble with these options (fault tests).
func WithPebbleOptions(o PebbleOptions) WorldOption {
	return func(w *worldOptions) { w.pebble = o }
}

// Start starts the AWS emulator, the DNS server, pebble and the API server with the
// project's CRDs, and stops them all in t.Cleanup. A missing binary fails the test rather than
// skipping it: CI must build the world (`make test-world`) first, and a silent skip would hide that.
// Logs go to $SECURESITE_TEST_LOGS/<test name>/ when that is set, else to a temporary directory
// whose log tails are printed if the test fails.
func Start(t testing.TB, opts ...WorldOption) *World {
	t.Helper()
	o := worldOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	w := &World{t: t, LogDir: worldLogDir(t)}

	var api struct {
		env *envtest.Environment
		cfg *rest.Config
		err error
	}
	apiReady := make(chan struct{})
	// The API server takes seconds, the rest a fraction of one: start it alongside.
	go func() {
		defer close(apiReady)
		api.env, api.cfg, api.err = StartAPIServerLogs(w.LogDir)
	}()
	t.Cleanup(func() {
		<-apiReady
		if api.env != nil {
			_ = api.env.Stop()
		}
	})
	var err error
	if w.AWS, err = StartEmulator(w.LogDir); err != nil {
		t.Fatalf("test world: %v", err)
	}
	t.Cleanup(w.AWS.Stop)
	// The DNS server answers from the emulator itself, as hack/world.sh runs it: it is the world's
	// name server, not an AWS client, and through the proxy's Route53 paging each zone read of a
	// busy 30,000-record zone became a hundred page requests, slower than pebble's 2 s DNS timeout.
	if w.DNS, err = dnsserver.StartWith(w.AWS.DirectURL, "127.0.0.1:0", o.dnsMaxAge); err != nil {
		t.Fatalf("test world: %v", err)
	}
	t.Cleanup(w.DNS.Stop)
	if w.Pebble, err = StartPebbleWith(w.DNS.Addr(), w.LogDir, o.pebble); err != nil {
		t.Fatalf("test world: %v", err)
	}
	t.Cleanup(w.Pebble.Stop)
	<-apiReady
	if api.err != nil {
		t.Fatalf("test world: %v", api.err)
	}
	w.APIServer, w.RESTConfig = api.env, api.cfg
	w.Kubeconfig = filepath.Join(w.LogDir, "kubeconfig")
	if err := WriteKubeconfig(api.cfg, w.Kubeconfig); err != nil {
		t.Fatalf("test world: %v", err)
	}
	if !o.noClass {
		if err := CreateDefaultClass(context.Background(), api.cfg); err != nil {
			t.Fatalf("test world: %v", err)
		}
	}
	return w
}

// AWSConfig is the emulator's SDK configuration, as the controller would load it.
func (w *World) AWSConfig(ctx context.Context) awsclient.Config {
	w.t.Helper()
	cfg, err := w.AWS.AWSConfig(ctx)
	if err != nil {
		w.t.Fatalf("test world: %v", err)
	}
	return cfg
}

// CreateHostedZone creates a public hosted zone in the emulator's Route53 and returns its id
// ("/hostedzone/<id>", as Route53 returns it).
func (w *World) CreateHostedZone(ctx context.Context, name string) string {
	w.t.Helper()
	// Its own client, not awsclient's counted one, so call-count assertions see only the code
	// under test.
	r53 := route53.NewFromConfig(w.AWS.RawAWSConfig())
	out, err := r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name:            aws.String(name),
		CallerReference: aws.String(name + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)),
	})
	if err != nil {
		w.t.Fatalf("creating hosted zone %s: %v", name, err)
	}
	return aws.ToString(out.HostedZone.Id)
}

var unsafePathChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func worldLogDir(t testing.TB) string {
	base := os.Getenv("SECURESITE_TEST_LOGS")
	if base == "" {
		dir := t.TempDir()
		t.Cleanup(func() {
			if t.Failed() {
				printLogTails(t, dir)
			}
		})
		return dir
	}
	dir := filepath.Join(base, unsafePathChars.ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("test world logs: %v", err)
	}
	t.Logf("test world logs in %s", dir)
	return dir
}

// printLogTails shows the end of each process log of a failed test, whose temporary directory is
// about to be removed.
func printLogTails(t testing.TB, dir string) {
	const lines = 15
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, path := range logs {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		var tail []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			tail = append(tail, sc.Text())
			if len(tail) > lines {
				tail = tail[1:]
			}
		}
		f.Close()
		t.Logf("--- last %d lines of %s (set SECURESITE_TEST_LOGS=dir to keep all logs):\n%s",
			lines, filepath.Base(path), strings.Join(tail, "\n"))
	}
}
