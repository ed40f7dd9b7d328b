package grafana

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`securesite_certificate_expiry_timestamp_seconds - time() < 14 * 86400`, []string{"securesite_certificate_expiry_timestamp_seconds"}},
		{`securesite_condition{type="Stalled", status="True"} == 1`, []string{"securesite_condition"}},
		{`sum by (service, operation) (rate(securesite_aws_api_calls_total{result=~"Throttling|SlowDown"}[10m]))
		   / sum by (service, operation) (rate(securesite_aws_api_calls_total[$__rate_interval])) > 0.05`, []string{"securesite_aws_api_calls_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(controller_runtime_reconcile_time_seconds_bucket{controller="securesite"}[5m])))`,
			[]string{"controller_runtime_reconcile_time_seconds_bucket"}},
		{`count by (version, revision) (securesite_build_info) or vector(0)`, []string{"securesite_build_info"}},
		{`sum(rate(a_total[5m] offset 1h)) without (pod) / on (job) group_left(version) b_info`, []string{"a_total", "b_info"}},
		{`label_replace(up, "x", "$1", "job", "(.*)") and 1e3 > bool 2`, []string{"up"}},
	} {
		if got := MetricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("MetricNames(%q) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

// TestDashboardParses: every panel has a query, and the chart's alert rules parse.
func TestDashboardParses(t *testing.T) {
	q, err := DashboardQueries(Dashboard)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) < 10 {
		t.Errorf("%d panels with queries, want the ten of the README", len(q))
	}
	for title, exprs := range q {
		for _, e := range exprs {
			if len(MetricNames(e)) == 0 {
				t.Errorf("panel %q: %q selects no metric", title, e)
			}
		}
	}
	rules, err := os.ReadFile(filepath.Join("..", "..", "charts", "securesite", "files", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := RuleQueries(rules)
	if err != nil {
		t.Fatal(err)
	}
	if len(r) < 5 {
		t.Errorf("%d alert rules, want at least the README's five", len(r))
	}
}
