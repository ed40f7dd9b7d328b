package manager

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/securesite-io/securesite/internal/version"
)

// buildInfo tells dashboards and alerts which build each replica runs (a rollout that did not
// finish shows two versions): securesite_build_info{version,revision,goversion} 1.
var buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "securesite_build_info",
	Help: "Always 1; the labels say which build of SecureSite is running.",
}, []string{"version", "revision", "goversion"})

func init() {
	i := version.Get()
	buildInfo.WithLabelValues(i.Version, i.Revision, i.GoVersion).Set(1)
	ctrlmetrics.Registry.MustRegister(buildInfo)
}
