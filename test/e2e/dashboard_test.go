package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/securesite-io/securesite/config/grafana"
	"github.com/securesite-io/securesite/internal/testworld"
)

// checkDashboardMetrics fails for every metric that a panel of config/grafana/securesite.json or
// an alert of the chart's files/alerts.yaml queries and the manager does not export: a panel that
// stays empty forever, or an alert that can never fire. lines are the manager's /metrics after
// the samples are Ready (a demo run).
func checkDashboardMetrics(t *testing.T, lines []string) {
	t.Helper()
	exported := map[string]bool{}
	for _, l := range lines {
		name := l
		if i := strings.IndexAny(l, "{ "); i >= 0 {
			name = l[:i]
		}
		exported[name] = true
	}
	queries := map[string][]string{}
	panels, err := grafana.DashboardQueries(grafana.Dashboard)
	if err != nil {
		t.Fatal(err)
	}
	for title, exprs := range panels {
		queries["dashboard panel "+title] = exprs
	}
	rules, err := os.ReadFile(filepath.Join(testworld.ChartDir(), "files", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := grafana.RuleQueries(rules)
	if err != nil {
		t.Fatal(err)
	}
	for name, expr := range alerts {
		queries["alert "+name] = []string{expr}
	}
	var where []string
	for w := range queries {
		where = append(where, w)
	}
	sort.Strings(where)
	checked := map[string]bool{}
	for _, w := range where {
		for _, expr := range queries[w] {
			for _, m := range grafana.MetricNames(expr) {
				checked[m] = true
				if !exported[m] {
					t.Errorf("%s queries %s, which the manager does not export", w, m)
				}
			}
		}
	}
	t.Logf("%d queries over %d metrics, all exported", len(queries), len(checked))
}
