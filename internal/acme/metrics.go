package acme

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Results of an ACME order, the label values of Orders.
const (
	ResultIssued = "issued"
	ResultFailed = "failed"
	// ResultDeferred: the order was not sent because its send could not be put on record.
	ResultDeferred = "deferred"
	// ResultRateLimited: the CA answered rateLimited; the order waits for its Retry-After.
	ResultRateLimited = "rate_limited"
)

var (
	// Orders counts finished ACME orders by result.
	Orders = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "securesite_acme_orders_total",
		Help: "ACME certificate orders by result (issued, failed, rate_limited, deferred).",
	}, []string{"result"})

	// AccountRegistrations counts new ACME accounts; it should stay at one per server and email
	// for the life of the installation, since accounts are stored and reused.
	AccountRegistrations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "securesite_acme_account_registrations_total",
		Help: "ACME accounts registered (newAccount requests that created an account).",
	})
)

// RateLimitedAnswers counts rateLimited answers from the CA (each holds the account until its
// Retry-After); scheduling within the known budgets should keep it at zero.
var RateLimitedAnswers = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "securesite_acme_rate_limited_total",
	Help: "rateLimited answers from the ACME server (the account then waits out Retry-After).",
})

// OrdersWaiting is how many queued orders a CA budget or a Retry-After holds back, as of the
// pool's last scheduling decision: the rate-limit waits a dashboard shows.
var OrdersWaiting = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "securesite_acme_orders_waiting",
	Help: "Queued ACME orders held back by a CA rate-limit budget or a Retry-After, at the last scheduling decision.",
})

func init() {
	ctrlmetrics.Registry.MustRegister(Orders, AccountRegistrations, RateLimitedAnswers, OrdersWaiting)
}
