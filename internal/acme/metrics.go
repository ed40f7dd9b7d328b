package acme

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Results of an ACME order, the label values of Orders.
const (
	ResultIssued = "issued"
	ResultFailed = "failed"
)

var (
	// Orders counts finished ACME orders by result.
	Orders = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "securesite_acme_orders_total",
		Help: "ACME certificate orders by result (issued, failed).",
	}, []string{"result"})

	// AccountRegistrations counts new ACME accounts; it should stay at one per server and email
	// for the life of the installation, since accounts are stored and reused.
	AccountRegistrations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "securesite_acme_account_registrations_total",
		Help: "ACME accounts registered (newAccount requests that created an account).",
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(Orders, AccountRegistrations)
}
