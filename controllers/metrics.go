package controllers

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// The per-site metrics are computed when Prometheus scrapes, from the record the reconciler keeps
// of each site's last status patch (siteRecords), not kept as gauges: seven series per site held
// in the client library cost about 3.5 KiB per site, the largest thing that grew with sites at
// 10,000 of them. A site this controller has not reconciled yet (or that another shard
// reconciles), or that is being deleted, has no series.
var (
	// certExpiryDesc lets an alert fire before a certificate expires, whatever the controller
	// thinks of its renewal: securesite_certificate_expiry_timestamp_seconds - time() < 14*86400.
	certExpiryDesc = prometheus.NewDesc("securesite_certificate_expiry_timestamp_seconds",
		"NotAfter of the certificate in each SecureSite's Secret, as a Unix timestamp.", []string{"namespace", "name"}, nil)
	// siteConditionDesc exposes each site's Ready/Stalled state for alerts on stuck sites: one
	// series per status, 1 for the current one and 0 for the others (kube-state-metrics' shape),
	// so `securesite_condition{type="Stalled",status="True"} == 1` selects exactly the stuck sites.
	siteConditionDesc = prometheus.NewDesc("securesite_condition",
		"1 when the SecureSite's condition of this type has this status.", []string{"namespace", "name", "type", "status"}, nil)
)

// siteMetrics is the collector; records are those of the running manager's reconciler.
type siteMetrics struct{ records atomic.Pointer[siteRecords] }

var sites = &siteMetrics{}

func init() {
	ctrlmetrics.Registry.MustRegister(sites)
}

func (m *siteMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- certExpiryDesc
	ch <- siteConditionDesc
}

// conditionSeries are the statuses each condition type is exported with, one series each.
var conditionSeries = []struct {
	status metav1.ConditionStatus
	state  conditionState
}{{metav1.ConditionTrue, conditionTrue}, {metav1.ConditionFalse, conditionFalse}, {metav1.ConditionUnknown, conditionUnknown}}

func (m *siteMetrics) Collect(ch chan<- prometheus.Metric) {
	records := m.records.Load()
	if records == nil {
		return
	}
	records.each(func(key types.NamespacedName, rec siteRecord) {
		if rec.notAfter != 0 {
			ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, float64(rec.notAfter), key.Namespace, key.Name)
		}
		for _, c := range []struct {
			typ   string
			state conditionState
		}{{v1alpha1.ConditionReady, rec.ready}, {v1alpha1.ConditionStalled, rec.stalled}} {
			if c.state == conditionAbsent {
				continue
			}
			for _, st := range conditionSeries {
				v := 0.0
				if c.state == st.state {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(siteConditionDesc, prometheus.GaugeValue, v, key.Namespace, key.Name, c.typ, string(st.status))
			}
		}
	})
}

// collectSiteMetricsFrom points the per-site metrics at a reconciler's records.
func collectSiteMetricsFrom(r *siteRecords) { sites.records.Store(r) }
