package controllers

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// Collect sends each site's series. A scrape holds every series of every site at once (the
// registry gathers them all, sorts them, then encodes), so a series here is as small as the
// registry lets it be: its labels point at label pairs shared by every series that has them (the
// namespace, the condition type and status, the site's name among its seven series), its value
// at one of two shared gauges or at the site's expiry, and a site's pairs, label lists and expiry
// are one allocation. Built with prometheus.MustNewConstMetric (label pairs, their strings and a
// gauge of its own for every series) a scrape of 10,000 sites held about 37 MB, more than the
// manager's whole live heap between scrapes.
func (m *siteMetrics) Collect(ch chan<- prometheus.Metric) {
	records := m.records.Load()
	if records == nil {
		return
	}
	namespaces := map[string]*dto.LabelPair{}
	for _, site := range records.list() {
		ns, ok := namespaces[site.key.Namespace]
		if !ok {
			ns = labelPair(labelNamespace, site.key.Namespace)
			namespaces[site.key.Namespace] = ns
		}
		newSiteSeries(site.key.Name, ns, site.rec).send(ch)
	}
}

// The label names of the per-site series. A series lists its labels sorted by name, as the
// registry expects them.
var (
	labelName, labelNamespace, labelStatus, labelType = "name", "namespace", "status", "type"
)

func labelPair(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }

// The label pairs and values every site shares.
var (
	gaugeZero, gaugeOne = &dto.Gauge{Value: new(0.0)}, &dto.Gauge{Value: new(1.0)}
	readyPair           = labelPair(labelType, v1alpha1.ConditionReady)
	stalledPair         = labelPair(labelType, v1alpha1.ConditionStalled)
	statusPairs         = [...]*dto.LabelPair{
		labelPair(labelStatus, string(metav1.ConditionTrue)),
		labelPair(labelStatus, string(metav1.ConditionFalse)),
		labelPair(labelStatus, string(metav1.ConditionUnknown)),
	}
)

// siteSeries is what one site's series point into: one allocation per site and scrape.
type siteSeries struct {
	rec      siteRecord
	nameText string
	name     dto.LabelPair
	notAfter float64
	expiry   dto.Gauge
	// labels are the label lists of the site's series: name and namespace for the expiry, then
	// name, namespace, status and type for each condition series.
	labels [2 + 2*3*4]*dto.LabelPair
}

func newSiteSeries(name string, namespace *dto.LabelPair, rec siteRecord) *siteSeries {
	s := &siteSeries{rec: rec, nameText: name, notAfter: float64(rec.notAfter)}
	s.name.Name, s.name.Value = &labelName, &s.nameText
	s.expiry.Value = &s.notAfter
	s.labels[0], s.labels[1] = &s.name, namespace
	for t, typ := range [...]*dto.LabelPair{readyPair, stalledPair} {
		for i, st := range statusPairs {
			l := s.labels[2+(t*3+i)*4:][:4]
			l[0], l[1], l[2], l[3] = &s.name, namespace, st, typ
		}
	}
	return s
}

// send sends the site's series: its certificate's expiry once it has one, and three series for
// each condition it has.
func (s *siteSeries) send(ch chan<- prometheus.Metric) {
	if s.rec.notAfter != 0 {
		ch <- siteSeriesMetric{certExpiryDesc, s.labels[:2], &s.expiry}
	}
	for t, state := range [...]conditionState{s.rec.ready, s.rec.stalled} {
		if state == conditionAbsent {
			continue
		}
		for i, st := range conditionSeries {
			g := gaugeZero
			if state == st.state {
				g = gaugeOne
			}
			ch <- siteSeriesMetric{siteConditionDesc, s.labels[2+(t*3+i)*4:][:4:4], g}
		}
	}
}

// siteSeriesMetric is one series as the registry reads it: it copies the label list and the
// gauge into the scrape's metric (both shared, never written).
type siteSeriesMetric struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	gauge  *dto.Gauge
}

func (m siteSeriesMetric) Desc() *prometheus.Desc { return m.desc }

func (m siteSeriesMetric) Write(out *dto.Metric) error {
	out.Label, out.Gauge = m.labels, m.gauge
	return nil
}

// collectSiteMetricsFrom points the per-site metrics at a reconciler's records.
func collectSiteMetricsFrom(r *siteRecords) { sites.records.Store(r) }
