package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/securesite-io/securesite/api/v1alpha1"
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

// recordConditionMetrics writes one series per status of the conditions alerts use, 1 for the
// current status and 0 for the others (kube-state-metrics' shape), so that
// `securesite_condition{type="Stalled",status="True"} == 1` selects exactly the stuck sites and a
// site that recovers stops matching instead of leaving a stale 1 behind.
func recordConditionMetrics(site *v1alpha1.SecureSite) {
	for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionStalled} {
		c := meta.FindStatusCondition(site.Status.Conditions, typ)
		for _, st := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown} {
			v := 0.0
			if c != nil && c.Status == st {
				v = 1
			}
			siteCondition.WithLabelValues(site.Namespace, site.Name, typ, string(st)).Set(v)
		}
	}
}

// forgetSiteMetrics drops a deleted site's series, so alerts do not fire for sites that are gone.
func forgetSiteMetrics(site *v1alpha1.SecureSite) {
	certExpiry.DeleteLabelValues(site.Namespace, site.Name)
	siteCondition.DeletePartialMatch(prometheus.Labels{"namespace": site.Namespace, "name": site.Name})
}
