package controllers

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/securesite-io/securesite/api/v1alpha1"
)

// The per-site metrics are computed from the manager's cache when Prometheus scrapes, not kept
// as gauges: seven series per site held in the client library cost about 3.5 KiB per site, the
// largest thing that grew with sites at 10,000 of them. The series and their values are the same.
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

// siteMetrics is the collector; reader is the cache of the running manager.
type siteMetrics struct{ reader atomic.Pointer[client.Reader] }

var sites = &siteMetrics{}

func init() {
	ctrlmetrics.Registry.MustRegister(sites)
}

func (m *siteMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- certExpiryDesc
	ch <- siteConditionDesc
}

func (m *siteMetrics) Collect(ch chan<- prometheus.Metric) {
	r := m.reader.Load()
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var list v1alpha1.SecureSiteList
	// Read-only: the cached objects themselves, not a copy of every site per scrape.
	if err := (*r).List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range list.Items {
		site := &list.Items[i]
		if !site.DeletionTimestamp.IsZero() {
			continue
		}
		if c := site.Status.Certificate; c != nil && c.NotAfter != nil {
			ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, float64(c.NotAfter.Unix()), site.Namespace, site.Name)
		}
		for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionStalled} {
			c := meta.FindStatusCondition(site.Status.Conditions, typ)
			if c == nil {
				continue // not reconciled yet (or not by this shard)
			}
			for _, st := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown} {
				v := 0.0
				if c.Status == st {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(siteConditionDesc, prometheus.GaugeValue, v, site.Namespace, site.Name, typ, string(st))
			}
		}
	}
}

// collectSiteMetricsFrom points the per-site metrics at a manager's cache.
func collectSiteMetricsFrom(r client.Reader) { sites.reader.Store(&r) }
