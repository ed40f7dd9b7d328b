// Command manager runs the SecureSite controller.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/securesite-io/securesite/internal/acme"
	"github.com/securesite-io/securesite/internal/logsample"
	"github.com/securesite-io/securesite/internal/manager"
	"github.com/securesite-io/securesite/internal/version"
)

func main() {
	var (
		o                        manager.Options
		acmeCABundle, nameserver string
	)
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.BoolVar(&o.SecureMetrics, "metrics-secure", false, "Serve metrics over HTTPS with authentication and authorization.")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	flag.StringVar(&o.PprofAddr, "pprof-bind-address", "0", "Address of the Go profiler (/debug/pprof/) for memory and CPU profiles; 0 disables it (and the runtime's sampling of allocations for heap profiles).")
	flag.BoolVar(&o.LeaderElect, "leader-elect", false, "Elect a leader, so that only one replica reconciles at a time.")
	flag.StringVar(&o.LeaderElectionID, "leader-election-id", "", "Name of the leader election lease (default securesite.io; per shard securesite.io-shard-<hash of --watch-label-selector>).")
	flag.StringVar(&o.WatchLabelSelector, "watch-label-selector", "", "Only reconcile SecureSites matching this label selector (e.g. shard=a, or shard notin (a,b)); run one Deployment per shard with disjoint selectors.")
	flag.StringVar(&o.AWS.Region, "aws-region", envOr("AWS_REGION", "us-east-1"), "Default AWS region for buckets that name none.")
	flag.StringVar(&o.AWS.EndpointURL, "aws-endpoint-url", "", "Send every AWS call to this URL (an AWS emulator). AWS_ENDPOINT_URL works too.")
	flag.StringVar(&o.ACMEServer, "acme-server", "https://acme-v02.api.letsencrypt.org/directory", "Default ACME directory URL.")
	flag.StringVar(&o.ACMEEmail, "acme-email", "", "Default ACME account email.")
	flag.StringVar(&acmeCABundle, "acme-ca-bundle", "", "PEM file of CAs to trust for the ACME server's TLS (e.g. a private or test CA).")
	flag.StringVar(&nameserver, "dns01-nameservers", "", "Comma-separated host:port resolvers for the DNS-01 propagation check (default: the system's).")
	flag.BoolVar(&o.DNS01SkipAuthoritative, "dns01-skip-authoritative-check", false, "Trust --dns01-nameservers alone for DNS-01 propagation (lego also asks each authoritative nameserver, on port 53).")
	flag.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "Reconcile workers.")
	flag.IntVar(&o.IssuanceWorkers, "issuance-workers", 8, "Certificate orders run at the same time (each waits for DNS propagation without holding a reconcile worker).")
	flag.DurationVar(&o.ResyncPeriod, "resync-period", 10*time.Minute, "How often a Ready site is re-checked for drift.")
	flag.Func("acme-orders-per-account", "New ACME orders allowed per account, as COUNT/WINDOW (e.g. 300/3h). Default: Let's Encrypt's published limit for its production and staging URLs, none for other CAs.",
		func(v string) (err error) { o.ACMELimits.OrdersPerAccount, err = acme.ParseLimit(v); return err })
	flag.Func("acme-certificates-per-domain", "New certificates allowed per registered domain, as COUNT/WINDOW (e.g. 50/168h). Default: Let's Encrypt's published limit for its production and staging URLs, none for other CAs.",
		func(v string) (err error) { o.ACMELimits.CertificatesPerDomain, err = acme.ParseLimit(v); return err })
	flag.Func("acme-duplicate-certificates", "New certificates allowed for exactly the same set of names, as COUNT/WINDOW (e.g. 5/168h). Default: Let's Encrypt's published limit for its production and staging URLs, none for other CAs.",
		func(v string) (err error) { o.ACMELimits.DuplicateCertificates, err = acme.ParseLimit(v); return err })
	flag.DurationVar(&o.DriftCheckInterval, "drift-check-interval", manager.DefaultDriftCheckInterval,
		"How often each Route53 zone holding owned records is read and compared with every site; drifted sites are repaired at once. 0 or less turns it off (drift then waits for --resync-period).")
	flag.StringVar(&o.Namespace, "namespace", envOr("POD_NAMESPACE", "securesite-system"), "The controller's namespace (ACME account Secrets live here).")

	tenancyLists := tenancyFlags(&o.Tenancy)

	showVersion := flag.Bool("version", false, "Print the version and exit.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if *showVersion {
		fmt.Println(version.String("securesite"))
		return
	}
	if o.PprofAddr == "" || o.PprofAddr == "0" {
		// Heap profiles are served only by --pprof-bind-address. Without it nothing can read the
		// allocations the runtime samples (one in every 512 KiB), yet it keeps a record of every
		// call stack it sampled and a 1.4 MB hash table of them for the process's life.
		runtime.MemProfileRate = 0
	}
	if o.DriftCheckInterval <= 0 {
		o.DriftCheckInterval = -1 // off (manager.Options reads 0 as the default)
	}
	ctrl.SetLogger(logsample.Logger(&zapOpts))
	tenancyLists()

	if err := run(ctrl.SetupSignalHandler(), o, acmeCABundle, nameserver); err != nil {
		ctrl.Log.Error(err, "manager exited")
		os.Exit(1)
	}
}

// tenancyFlags registers the flags for sharing a cluster and an AWS account (README "Sharing a
// cluster"); the returned function fills the lists in once the flags are parsed.
func tenancyFlags(t *manager.TenancyOptions) func() {
	var domainFilter, zoneIDFilter, reservedNames string
	flag.StringVar(&t.OwnerID, "owner-id", "", "Owner id in every TXT ownership record and AWS owner tag; controllers with different ids never touch each other's objects (default: the kube-system namespace's UID).")
	flag.DurationVar(&t.NameHold, "name-hold", manager.DefaultNameHold, "How long a released DNS name stays held for its last owner before another site may take it (negative: no hold).")
	flag.StringVar(&domainFilter, "domain-filter", "", "Comma-separated domains: the controller writes only these names and names below them, whatever a SecureSiteClass grants.")
	flag.StringVar(&zoneIDFilter, "zone-id-filter", "", "Comma-separated Route53 hosted zone ids: the controller writes only into these zones.")
	flag.StringVar(&reservedNames, "reserved-names", "", "Comma-separated names a SecureSiteClass must list exactly to grant: '@' (a zone apex), a label such as www (directly below a zone apex) or a full name.")
	return func() {
		t.DomainFilter, t.ZoneIDFilter, t.ReservedNames = splitList(domainFilter), splitList(zoneIDFilter), splitList(reservedNames)
	}
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, o manager.Options, acmeCABundle, nameservers string) error {
	if acmeCABundle != "" {
		pem, err := os.ReadFile(acmeCABundle)
		if err != nil {
			return fmt.Errorf("reading --acme-ca-bundle: %w", err)
		}
		o.ACMECABundle = pem
	}
	for _, ns := range strings.Split(nameservers, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			o.DNS01Nameservers = append(o.DNS01Nameservers, ns)
		}
	}
	// AWS credentials come from the SDK default chain: IRSA and EKS Pod Identity need no code.
	mgr, err := manager.New(ctx, ctrl.GetConfigOrDie(), o)
	if err != nil {
		return err
	}
	ctrl.Log.Info("starting manager", "ownerID", mgr.OwnerID, "version", version.Get().Version, "revision", version.Get().Revision, "awsRegion", o.AWS.Region, "awsEndpoint", o.AWS.EndpointURL, "acmeServer", o.ACMEServer,
		"dns01Nameservers", o.DNS01Nameservers)
	return mgr.Start(ctx)
}
