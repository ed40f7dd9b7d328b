// Command dashboard-shot renders the panels of config/grafana/securesite.json from metrics scraped
// off a real manager (record.sh scrapes the demo's /metrics every few seconds) and screenshots the
// page with headless Chromium, for the README. The queries are evaluated by Prometheus's own PromQL
// engine over the scraped samples, so each panel shows what Grafana would show over the same
// Prometheus data; only the drawing is this tool's (Grafana itself is not part of the test world).
//
// usage: go run . -scrapes DIR -dashboard ../../config/grafana/securesite.json -out ../../docs/dashboard.png
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

func main() {
	var (
		scrapes   = flag.String("scrapes", "", "directory of <unix milliseconds>.prom files (record.sh)")
		dashboard = flag.String("dashboard", "../../config/grafana/securesite.json", "Grafana dashboard JSON")
		out       = flag.String("out", "../../docs/dashboard.png", "PNG to write")
		htmlOut   = flag.String("html", "", "also keep the HTML page here")
		chromium  = flag.String("chromium", "chromium-headless-shell", "headless Chromium binary")
		rate      = flag.Duration("rate-interval", 30*time.Second, "what $__rate_interval stands for (Grafana: 4 scrape intervals)")
	)
	flag.Parse()
	if err := run(*scrapes, *dashboard, *out, *htmlOut, *chromium, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard-shot:", err)
		os.Exit(1)
	}
}

func run(scrapes, dashboardPath, out, htmlOut, chromium string, rateInterval time.Duration) error {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		return err
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("%s: %w", dashboardPath, err)
	}
	dir, err := os.MkdirTemp("", "dashboard-shot-tsdb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	opts := tsdb.DefaultOptions()
	opts.OutOfOrderTimeWindow = 0
	db, err := tsdb.Open(dir, slog.New(slog.DiscardHandler), nil, opts, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	start, end, n, err := load(db, scrapes)
	if err != nil {
		return err
	}
	fmt.Printf("loaded %d scrapes, %s to %s (%s)\n", n, start.Format(time.RFC3339), end.Format(time.RFC3339), end.Sub(start).Round(time.Second))

	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	step := max(end.Sub(start)/240, 5*time.Second)
	var rendered []renderedPanel
	for _, p := range d.Panels {
		rp := renderedPanel{panel: p}
		for _, t := range p.Targets {
			expr := strings.ReplaceAll(t.Expr, "$__rate_interval", model.Duration(rateInterval).String())
			var res promql.Result
			if p.Type == "timeseries" {
				res, err = query(engine, db, expr, start, end, step)
			} else {
				res, err = query(engine, db, expr, end, end, 0)
			}
			if err != nil {
				return fmt.Errorf("panel %q: %s: %w", p.Title, expr, err)
			}
			rp.results = append(rp.results, targetResult{target: t, result: res})
		}
		rendered = append(rendered, rp)
	}
	page := renderHTML(d, rendered, start, end)
	if htmlOut == "" {
		htmlOut = filepath.Join(dir, "dashboard.html")
	}
	if err := os.WriteFile(htmlOut, []byte(page), 0o644); err != nil {
		return err
	}
	abs, err := filepath.Abs(htmlOut)
	if err != nil {
		return err
	}
	pngAbs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--window-size=1600,"+strconv.Itoa(pageHeight(d)), "--screenshot="+pngAbs, "file://"+abs)
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", chromium, err, o)
	}
	fmt.Println("wrote", out)
	return nil
}

func query(engine *promql.Engine, db *tsdb.DB, expr string, start, end time.Time, step time.Duration) (promql.Result, error) {
	var (
		q   promql.Query
		err error
	)
	if step == 0 {
		q, err = engine.NewInstantQuery(context.Background(), db, nil, expr, end)
	} else {
		q, err = engine.NewRangeQuery(context.Background(), db, nil, expr, start, end, step)
	}
	if err != nil {
		return promql.Result{}, err
	}
	res := q.Exec(context.Background())
	return *res, res.Err
}

// load appends every sample of every <unix ms>.prom file to the database, as a Prometheus scrape
// of the manager would (job="securesite"), and returns the time range.
func load(db *tsdb.DB, dir string) (start, end time.Time, n int, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.prom"))
	if err != nil {
		return start, end, 0, err
	}
	sort.Strings(files)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	// Like Prometheus, mark a series that a scrape no longer has as stale at that scrape, so a
	// deleted site's series end there instead of lingering for the lookback window.
	previous := map[string]labels.Labels{}
	for _, f := range files {
		ms, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(f), ".prom"), 10, 64)
		if err != nil {
			return start, end, 0, fmt.Errorf("%s: name is not a Unix time in milliseconds", f)
		}
		r, err := os.Open(f)
		if err != nil {
			return start, end, 0, err
		}
		families, err := parser.TextToMetricFamilies(r)
		r.Close()
		if err != nil {
			// A scrape cut short (the manager stopping) is skipped, as Prometheus would mark it failed.
			fmt.Fprintf(os.Stderr, "skipping %s: %v\n", f, err)
			continue
		}
		app := db.Appender(context.Background())
		current := map[string]labels.Labels{}
		for name, mf := range families {
			for _, m := range mf.GetMetric() {
				for _, s := range samples(name, mf.GetType(), m) {
					current[s.labels.String()] = s.labels
					if _, err := app.Append(0, s.labels, ms, s.value); err != nil {
						_ = app.Rollback()
						return start, end, 0, fmt.Errorf("%s: %s: %w", f, s.labels, err)
					}
				}
			}
		}
		for k, l := range previous {
			if _, ok := current[k]; !ok {
				if _, err := app.Append(0, l, ms, math.Float64frombits(value.StaleNaN)); err != nil {
					_ = app.Rollback()
					return start, end, 0, err
				}
			}
		}
		previous = current
		if err := app.Commit(); err != nil {
			return start, end, 0, err
		}
		t := time.UnixMilli(ms)
		if n == 0 {
			start = t
		}
		end = t
		n++
	}
	if n < 2 {
		return start, end, n, fmt.Errorf("%d scrapes in %s; record a run first (record.sh)", n, dir)
	}
	return start, end, n, nil
}

type sample struct {
	labels labels.Labels
	value  float64
}

// samples flattens one metric of the exposition format into series, as Prometheus stores them
// (histograms as _bucket{le}, _sum and _count).
func samples(name string, typ dto.MetricType, m *dto.Metric) []sample {
	base := map[string]string{"job": "securesite", "instance": "manager"}
	for _, l := range m.GetLabel() {
		base[l.GetName()] = l.GetValue()
	}
	with := func(metric string, extra map[string]string, v float64) sample {
		lm := map[string]string{"__name__": metric}
		for k, v := range base {
			lm[k] = v
		}
		for k, v := range extra {
			lm[k] = v
		}
		return sample{labels: labels.FromMap(lm), value: v}
	}
	switch typ {
	case dto.MetricType_COUNTER:
		return []sample{with(name, nil, m.GetCounter().GetValue())}
	case dto.MetricType_GAUGE:
		return []sample{with(name, nil, m.GetGauge().GetValue())}
	case dto.MetricType_HISTOGRAM:
		h := m.GetHistogram()
		out := []sample{with(name+"_sum", nil, h.GetSampleSum()), with(name+"_count", nil, float64(h.GetSampleCount()))}
		for _, b := range h.GetBucket() {
			out = append(out, with(name+"_bucket", map[string]string{"le": strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)}, float64(b.GetCumulativeCount())))
		}
		return append(out, with(name+"_bucket", map[string]string{"le": "+Inf"}, float64(h.GetSampleCount())))
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		out := []sample{with(name+"_sum", nil, s.GetSampleSum()), with(name+"_count", nil, float64(s.GetSampleCount()))}
		for _, q := range s.GetQuantile() {
			out = append(out, with(name, map[string]string{"quantile": strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64)}, q.GetValue()))
		}
		return out
	default:
		return []sample{with(name, nil, m.GetUntyped().GetValue())}
	}
}

var _ storage.Queryable = (*tsdb.DB)(nil)
