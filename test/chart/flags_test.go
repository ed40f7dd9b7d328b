package chart

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

// chartValue says how the chart sets one manager flag: the helm --set that sets it, and the
// container argument (or environment variable, NAME=value) it must render.
type chartValue struct {
	set  []string
	arg  string
	env  string
	note string
}

// flagValues maps every manager flag to its chart value. A flag added to the manager without an
// entry here fails TestChartEveryFlagIsAValue: add a value to values.yaml (with its schema in
// values.schema.json and its argument in templates/_helpers.tpl) and list it here.
var flagValues = map[string]chartValue{
	"acme-server":                    {set: []string{"acme.server=https://acme.example/directory"}, arg: "--acme-server=https://acme.example/directory"},
	"acme-email":                     {set: []string{"acme.email=ops@duckhoo.site"}, arg: "--acme-email=ops@duckhoo.site"},
	"acme-ca-bundle":                 {set: []string{"acme.caBundle.configMap=private-ca", "acme.caBundle.key=root.pem"}, arg: "--acme-ca-bundle=/etc/securesite/acme-ca/root.pem"},
	"aws-region":                     {set: []string{"aws.region=eu-west-3"}, env: "AWS_REGION=eu-west-3", note: "the flag's default is $AWS_REGION, which the SDK (and IRSA's STS call) read too"},
	"aws-endpoint-url":               {set: []string{"aws.endpointURL=https://aws-proxy.internal:4443"}, arg: "--aws-endpoint-url=https://aws-proxy.internal:4443"},
	"dns01-nameservers":              {set: []string{"dns01.nameservers={10.0.0.2:53,10.0.0.3:53}"}, arg: "--dns01-nameservers=10.0.0.2:53,10.0.0.3:53"},
	"dns01-skip-authoritative-check": {set: []string{"dns01.skipAuthoritativeCheck=true"}, arg: "--dns01-skip-authoritative-check"},
	"max-concurrent-reconciles":      {set: []string{"maxConcurrentReconciles=9"}, arg: "--max-concurrent-reconciles=9"},
	"issuance-workers":               {set: []string{"issuanceWorkers=12"}, arg: "--issuance-workers=12"},
	"resync-period":                  {set: []string{"resyncPeriod=7m"}, arg: "--resync-period=7m"},
	"leader-elect":                   {set: []string{"leaderElection.enabled=true"}, arg: "--leader-elect"},
	"metrics-bind-address":           {set: []string{"metrics.port=9443"}, arg: "--metrics-bind-address=:9443"},
	"metrics-secure":                 {set: []string{"metrics.secure=true"}, arg: "--metrics-secure"},
	"pprof-bind-address":             {set: []string{"pprof.enabled=true", "pprof.port=6060"}, arg: "--pprof-bind-address=127.0.0.1:6060"},
	"health-probe-bind-address":      {set: []string{"probes.port=9081"}, arg: "--health-probe-bind-address=:9081"},
	"owner-id":                       {set: []string{"tenancy.ownerID=cluster-1"}, arg: "--owner-id=cluster-1"},
	"name-hold":                      {set: []string{"tenancy.nameHold=30m"}, arg: "--name-hold=30m"},
	"domain-filter":                  {set: []string{"tenancy.domainFilter={duckhoo.site,example.com}"}, arg: "--domain-filter=duckhoo.site,example.com"},
	"zone-id-filter":                 {set: []string{"tenancy.zoneIDFilter={Z0123456789ABC}"}, arg: "--zone-id-filter=Z0123456789ABC"},
	"reserved-names":                 {set: []string{"tenancy.reservedNames={@,www}"}, arg: "--reserved-names=@,www"},
	"namespace":                      {env: "POD_NAMESPACE=fieldRef:metadata.namespace", note: "the release namespace, through the flag's default $POD_NAMESPACE"},
	"leader-election-id":             {set: []string{"leaderElection.id=securesite-blue"}, arg: "--leader-election-id=securesite-blue"},
	"watch-label-selector":           {set: []string{"watchLabelSelector=shard in (a\\,b)"}, arg: "--watch-label-selector=shard in (a,b)"},
	"acme-orders-per-account":        {set: []string{"acme.limits.ordersPerAccount=300/3h"}, arg: "--acme-orders-per-account=300/3h"},
	"acme-certificates-per-domain":   {set: []string{"acme.limits.certificatesPerDomain=50/168h"}, arg: "--acme-certificates-per-domain=50/168h"},
	"acme-duplicate-certificates":    {set: []string{"acme.limits.duplicateCertificates=5/168h"}, arg: "--acme-duplicate-certificates=5/168h"},
	"drift-check-interval":           {set: []string{"driftCheckInterval=2m"}, arg: "--drift-check-interval=2m"},
	"zap-log-level":                  {set: []string{"log.level=debug"}, arg: "--zap-log-level=debug"},
	"zap-encoder":                    {set: []string{"log.format=console"}, arg: "--zap-encoder=console"},
	"zap-devel":                      {set: []string{"log.development=true"}, arg: "--zap-devel"},
	"zap-stacktrace-level":           {set: []string{"log.stacktraceLevel=panic"}, arg: "--zap-stacktrace-level=panic"},
	"zap-time-encoding":              {set: []string{"log.timeEncoding=rfc3339"}, arg: "--zap-time-encoding=rfc3339"},
}

// notValues are the flags a chart install must not set, and why.
var notValues = map[string]string{
	"kubeconfig": "in a Pod the manager uses its ServiceAccount (in-cluster configuration)",
	"version":    "prints the version and exits",
}

// TestChartEveryFlagIsAValue reads the flags the manager binary really has (--help) and checks that
// each one is set by a chart value and rendered into the Deployment, and that nothing the chart
// renders is a flag the manager does not have.
func TestChartEveryFlagIsAValue(t *testing.T) {
	flags := managerFlags(t)
	checkFlagsAndValuesPaired(t, flags)

	names := make([]string, 0, len(flagValues))
	for f := range flagValues {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		t.Run(f, func(t *testing.T) { flagValues[f].checkRendered(t, flags) })
	}
}

// checkFlagsAndValuesPaired: every manager flag has a chart value or a reason not to, and every
// chart value is still a flag of the manager.
func checkFlagsAndValuesPaired(t *testing.T, flags []string) {
	t.Helper()
	var missing []string
	for _, f := range flags {
		_, mapped := flagValues[f]
		if _, skipped := notValues[f]; !mapped && !skipped {
			missing = append(missing, "--"+f)
		}
	}
	if len(missing) > 0 {
		t.Errorf("manager flags with no chart value: %v\nadd each to charts/securesite/values.yaml, values.schema.json and "+
			"templates/_helpers.tpl (securesite.args), and to flagValues in test/chart/flags_test.go", missing)
	}
	for f := range flagValues {
		if !slices.Contains(flags, f) {
			t.Errorf("flagValues lists --%s, which the manager no longer has: remove its chart value", f)
		}
	}
}

// checkRendered: the chart installed with v's --set renders v's argument or environment variable,
// and no argument that is not one of the manager's flags.
func (v chartValue) checkRendered(t *testing.T, flags []string) {
	t.Helper()
	var args []string
	for _, s := range v.set {
		args = append(args, "--set", s)
	}
	c := managerContainer(t, render(t, "securesite", "securesite-system", args...))
	rendered := stringsOf(c["args"])
	if v.arg != "" && !slices.Contains(rendered, v.arg) {
		t.Errorf("--set %v renders args %v, want %s", v.set, rendered, v.arg)
	}
	if v.env != "" {
		name, want, _ := strings.Cut(v.env, "=")
		if got := envOf(c)[name]; got != want {
			t.Errorf("--set %v renders %s=%q, want %q (%s)", v.set, name, got, want, v.note)
		}
	}
	for _, a := range rendered {
		name := strings.SplitN(strings.TrimPrefix(a, "--"), "=", 2)[0]
		if !slices.Contains(flags, name) {
			t.Errorf("the chart renders %s, which is not a manager flag", a)
		}
	}
}
