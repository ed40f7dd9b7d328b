package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// certExpiry lets an alert fire before a certificate expires, whatever the controller thinks of
// its renewal: securesite_certificate_expiry_timestamp_seconds - time() < 14*86400.
var certExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "securesite_certificate_expiry_timestamp_seconds",
	Help: "NotAfter of the certificate in each SecureSite's Secret, as a Unix timestamp.",
}, []string{"namespace", "name"})

// siteCondition exposes each site's Ready/Stalled state for alerts on stuck sites.
var siteCondition = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "securesite_condition",
	Help: "1 when the SecureSite's condition of this type has this status.",
}, []string{"namespace", "name", "type", "status"})

func init() {
	ctrlmetrics.Registry.MustRegister(certExpiry, siteCondition)
}
