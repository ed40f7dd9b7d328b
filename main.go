// Command manager runs the SecureSite controller.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/controllers"
)

type options struct {
	metricsAddr, probeAddr     string
	secureMetrics, leaderElect bool
	awsRegion, awsEndpointURL  string
	acmeServer, acmeEmail      string
	acmeCABundle               string
	dns01Nameservers           string
	dns01SkipAuthoritative     bool
	maxConcurrentReconciles    int
	issuanceWorkers            int
	resyncPeriod               time.Duration
	namespace                  string
}

func main() {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.BoolVar(&o.secureMetrics, "metrics-secure", false, "Serve metrics over HTTPS with authentication and authorization.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader, so that only one replica reconciles at a time.")
	flag.StringVar(&o.awsRegion, "aws-region", envOr("AWS_REGION", "us-east-1"), "Default AWS region for buckets that name none.")
	flag.StringVar(&o.awsEndpointURL, "aws-endpoint-url", "", "Send every AWS call to this URL (an emulator such as kumo). AWS_ENDPOINT_URL works too.")
	flag.StringVar(&o.acmeServer, "acme-server", "https://acme-v02.api.letsencrypt.org/directory", "Default ACME directory URL.")
	flag.StringVar(&o.acmeEmail, "acme-email", "", "Default ACME account email.")
	flag.StringVar(&o.acmeCABundle, "acme-ca-bundle", "", "PEM file of CAs to trust for the ACME server's TLS (e.g. a private or test CA).")
	flag.StringVar(&o.dns01Nameservers, "dns01-nameservers", "", "Comma-separated host:port resolvers for the DNS-01 propagation check (default: the system's).")
	flag.BoolVar(&o.dns01SkipAuthoritative, "dns01-skip-authoritative-check", false, "Trust --dns01-nameservers alone for DNS-01 propagation (lego also asks each authoritative nameserver, on port 53).")
	flag.IntVar(&o.maxConcurrentReconciles, "max-concurrent-reconciles", 4, "Reconcile workers.")
	flag.IntVar(&o.issuanceWorkers, "issuance-workers", 8, "Certificate orders run at the same time (each waits for DNS propagation without holding a reconcile worker).")
	flag.DurationVar(&o.resyncPeriod, "resync-period", 10*time.Minute, "How often a Ready site is re-checked for drift.")
	flag.StringVar(&o.namespace, "namespace", envOr("POD_NAMESPACE", "securesite-system"), "The controller's namespace (ACME account Secrets live here).")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		ctrl.Log.Error(err, "manager exited")
		os.Exit(1)
	}
}

// metricsOptions serves metrics over HTTPS with TokenReview/SubjectAccessReview authorization when
// --metrics-secure is set (the install does), plain HTTP otherwise (local runs, the test world).
func metricsOptions(o options) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: o.secureMetrics}
	if o.secureMetrics {
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
		// HTTP/2 is off: CVE-2023-44487 (rapid reset) and CVE-2023-39325.
		m.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	return m
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, o options) error {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))

	managed := labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.LabelManagedByValue})
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "securesite.io",
		LeaderElectionNamespace: o.namespace,
		// Only Secrets we labelled are cached: clusters hold thousands of unrelated Secrets, and
		// caching them would cost memory for nothing.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: managed},
		}},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	wake := make(chan event.GenericEvent, 1024)
	services, err := newServices(ctx, mgr, o, wake)
	if err != nil {
		return err
	}
	r := &controllers.SecureSiteReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("securesite-controller"),
		Clock:                   clock.RealClock{},
		Defaults:                controllers.Defaults{ACMEServer: o.acmeServer, ACMEEmail: o.acmeEmail, Region: o.awsRegion},
		DNS:                     services.dns,
		Issuer:                  services.issuer,
		ACM:                     services.acm,
		Buckets:                 services.buckets,
		Distributions:           services.distributions,
		Exporter:                services.exporter,
		ResyncPeriod:            o.resyncPeriod,
		Wake:                    wake,
		MaxConcurrentReconciles: o.maxConcurrentReconciles,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.Info("starting manager", "awsRegion", o.awsRegion, "awsEndpoint", o.awsEndpointURL, "acmeServer", o.acmeServer,
		"dns01Nameservers", strings.TrimSpace(o.dns01Nameservers))
	return mgr.Start(ctx)
}
