package main

import (
	"fmt"
	"html"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

type dashboard struct {
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Title       string `json:"title"`
	Type        string `json:"type"`
	Description string `json:"description"`
	GridPos     struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets     []target `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit       string   `json:"unit"`
			Max        *float64 `json:"max"`
			Thresholds *struct {
				Steps []struct {
					Color string   `json:"color"`
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Transformations []struct {
		ID      string `json:"id"`
		Options struct {
			ExcludeByName map[string]bool `json:"excludeByName"`
		} `json:"options"`
	} `json:"transformations"`
}

type target struct {
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
}

type targetResult struct {
	target target
	result promql.Result
}

type renderedPanel struct {
	panel   panel
	results []targetResult
}

const (
	pageWidth  = 1600
	cellHeight = 34
	margin     = 8
)

var palette = []string{"#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9", "#FADE2A", "#37872D", "#C4162A", "#1F60C4", "#8F3BB8"}

func pageHeight(d dashboard) int {
	bottom := 0
	for _, p := range d.Panels {
		bottom = max(bottom, p.GridPos.Y+p.GridPos.H)
	}
	return bottom*cellHeight + 70
}

func renderHTML(d dashboard, panels []renderedPanel, start, end time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;color:#ccccdc;font:13px "DejaVu Sans",Arial,sans-serif;width:%dpx}
.top{height:48px;display:flex;align-items:center;padding:0 %dpx;font-size:18px;color:#fff}
.top small{margin-left:auto;font-size:12px;color:#8e8e9e}
.p{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:3px;box-sizing:border-box;overflow:hidden}
.p h3{margin:0;padding:6px 8px;font-size:13px;font-weight:500;color:#d8d9da}
.row{position:absolute;font-size:15px;color:#fff;font-weight:500}
.nodata{color:#8e8e9e;text-align:center;margin-top:30px}
.stat{display:flex;flex-wrap:wrap;gap:6px;padding:4px 8px}
.stat div{flex:1;min-width:110px;text-align:center}
.stat b{display:block;font-size:30px;font-weight:500}
.stat span{font-size:11px;color:#a0a0b0}
table{border-collapse:collapse;width:100%%;font-size:12px}
td,th{padding:3px 8px;border-bottom:1px solid #2c3235;text-align:left}
th{color:#6e9fff;font-weight:500}
.legend{font-size:11px;padding:0 8px;line-height:15px}
.legend i{display:inline-block;width:10px;height:3px;margin-right:5px;vertical-align:middle}
.legend em{font-style:normal;color:#8e8e9e;float:right}
.bar{display:flex;align-items:center;padding:2px 8px;font-size:12px}
.bar span{width:180px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis}
.bar div{flex:1;height:16px;background:#22252b;margin:0 8px}
.bar div i{display:block;height:100%%}
.bar b{width:70px;text-align:right;font-weight:500}
</style></head><body>`, pageWidth, margin)
	fmt.Fprintf(&b, `<div class="top">%s<small>rendered from the manager's /metrics, %s – %s UTC (PromQL evaluated by Prometheus's engine)</small></div>`,
		html.EscapeString(d.Title), start.UTC().Format("2006-01-02 15:04:05"), end.UTC().Format("15:04:05"))
	for _, rp := range panels {
		p := rp.panel
		x := p.GridPos.X*pageWidth/24 + margin/2
		y := 48 + p.GridPos.Y*cellHeight
		w := p.GridPos.W*pageWidth/24 - margin
		h := p.GridPos.H*cellHeight - margin
		if p.Type == "row" {
			fmt.Fprintf(&b, `<div class="row" style="left:%dpx;top:%dpx">%s</div>`, x+4, y+6, html.EscapeString(p.Title))
			continue
		}
		fmt.Fprintf(&b, `<div class="p" style="left:%dpx;top:%dpx;width:%dpx;height:%dpx"><h3>%s</h3>`, x, y, w, h, html.EscapeString(p.Title))
		switch p.Type {
		case "timeseries":
			renderTimeseries(&b, rp, w, h-30, start, end)
		case "stat":
			renderStat(&b, rp)
		case "bargauge":
			renderBars(&b, rp)
		case "table":
			renderTable(&b, rp)
		}
		b.WriteString(`</div>`)
	}
	b.WriteString(`</body></html>`)
	return b.String()
}

var legendVar = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

func legend(format string, l labels.Labels) string {
	if format == "" {
		return l.String()
	}
	return legendVar.ReplaceAllStringFunc(format, func(m string) string {
		return l.Get(legendVar.FindStringSubmatch(m)[1])
	})
}

func formatValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	num := func(v float64) string {
		switch a := math.Abs(v); {
		case a == 0:
			return "0"
		case v == math.Trunc(v) && a < 1e6:
			return fmt.Sprintf("%.0f", v)
		case a >= 100:
			return fmt.Sprintf("%.0f", v)
		case a >= 10:
			return fmt.Sprintf("%.1f", v)
		case a >= 0.01:
			return fmt.Sprintf("%.2f", v)
		default:
			return fmt.Sprintf("%.3g", v)
		}
	}
	switch unit {
	case "s":
		if math.Abs(v) < 1 && v != 0 {
			return num(v*1000) + " ms"
		}
		return num(v) + " s"
	case "d":
		return num(v) + " days"
	case "reqps":
		return num(v) + " req/s"
	case "ops":
		return num(v) + " ops/s"
	}
	return num(v)
}

type line struct {
	name   string
	points []promql.FPoint
}

func renderTimeseries(b *strings.Builder, rp renderedPanel, w, h int, start, end time.Time) {
	var lines []line
	for _, tr := range rp.results {
		m, _ := tr.result.Value.(promql.Matrix)
		for _, s := range m {
			if len(s.Floats) > 0 {
				lines = append(lines, line{name: legend(tr.target.LegendFormat, s.Metric), points: s.Floats})
			}
		}
	}
	if len(lines) == 0 {
		b.WriteString(`<div class="nodata">No data</div>`)
		return
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].name < lines[j].name })
	legendRows := min(len(lines), max(2, (h-90)/15))
	plotH := h - legendRows*15 - 8
	const left, bottom = 62, 18
	lo, hi := 0.0, 0.0
	for _, l := range lines {
		for _, p := range l.points {
			if !math.IsNaN(p.F) && !math.IsInf(p.F, 0) {
				lo, hi = math.Min(lo, p.F), math.Max(hi, p.F)
			}
		}
	}
	if hi == lo {
		hi = lo + 1
	}
	hi *= 1.1
	unit := rp.panel.FieldConfig.Defaults.Unit
	t0, t1 := start.UnixMilli(), end.UnixMilli()
	px := func(t int64) float64 { return left + float64(t-t0)/float64(max(t1-t0, 1))*float64(w-left-40) }
	py := func(v float64) float64 { return float64(plotH-bottom) - (v-lo)/(hi-lo)*float64(plotH-bottom-6) }
	fmt.Fprintf(b, `<svg width="%d" height="%d" style="display:block">`, w, plotH)
	for i := 0; i <= 4; i++ {
		v := lo + (hi-lo)*float64(i)/4
		y := py(v)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#2c3235"/><text x="%d" y="%.1f" fill="#8e8e9e" font-size="10" text-anchor="end">%s</text>`,
			left, w-12, y, y, left-4, y+3, html.EscapeString(formatValue(v, unit)))
	}
	for i := 0; i <= 4; i++ {
		t := t0 + (t1-t0)*int64(i)/4
		fmt.Fprintf(b, `<text x="%.1f" y="%d" fill="#8e8e9e" font-size="10" text-anchor="middle">%s</text>`,
			px(t), plotH-4, time.UnixMilli(t).UTC().Format("15:04:05"))
	}
	for i, l := range lines {
		// NaN (e.g. a quantile while nothing was reconciled) is a gap, as in Grafana.
		var pts []string
		flush := func() {
			if len(pts) > 0 {
				fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, palette[i%len(palette)], strings.Join(pts, " "))
			}
			pts = nil
		}
		for _, p := range l.points {
			if math.IsNaN(p.F) || math.IsInf(p.F, 0) {
				flush()
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.T), py(p.F)))
		}
		flush()
	}
	b.WriteString(`</svg><div class="legend">`)
	for i, l := range lines[:legendRows] {
		last := math.NaN()
		for _, p := range l.points {
			if !math.IsNaN(p.F) {
				last = p.F
			}
		}
		fmt.Fprintf(b, `<div><i style="background:%s"></i>%s<em>%s</em></div>`, palette[i%len(palette)], html.EscapeString(l.name), formatValue(last, unit))
	}
	if legendRows < len(lines) {
		fmt.Fprintf(b, `<div>… %d more series</div>`, len(lines)-legendRows)
	}
	b.WriteString(`</div>`)
}

func vectorOf(rp renderedPanel) []struct {
	name string
	l    labels.Labels
	v    float64
} {
	var out []struct {
		name string
		l    labels.Labels
		v    float64
	}
	for _, tr := range rp.results {
		vec, _ := tr.result.Value.(promql.Vector)
		for _, s := range vec {
			out = append(out, struct {
				name string
				l    labels.Labels
				v    float64
			}{legend(tr.target.LegendFormat, s.Metric), s.Metric, s.F})
		}
	}
	return out
}

func renderStat(b *strings.Builder, rp renderedPanel) {
	vec := vectorOf(rp)
	if len(vec) == 0 {
		b.WriteString(`<div class="nodata">No data</div>`)
		return
	}
	sort.Slice(vec, func(i, j int) bool { return vec[i].name < vec[j].name })
	b.WriteString(`<div class="stat">`)
	for _, s := range vec {
		color := "#73BF69"
		if strings.Contains(s.name, "Stalled=True") || strings.Contains(s.name, "Ready=False") {
			color = "#F2495C"
		}
		fmt.Fprintf(b, `<div><b style="color:%s">%s</b><span>%s</span></div>`, color, formatValue(s.v, ""), html.EscapeString(s.name))
	}
	b.WriteString(`</div>`)
}

func renderBars(b *strings.Builder, rp renderedPanel) {
	vec := vectorOf(rp)
	if len(vec) == 0 {
		b.WriteString(`<div class="nodata">No data</div>`)
		return
	}
	d := rp.panel.FieldConfig.Defaults
	top := 0.0
	for _, s := range vec {
		top = math.Max(top, s.v)
	}
	if d.Max != nil {
		top = math.Max(top, *d.Max)
	}
	for _, s := range vec {
		color := "#73BF69"
		if d.Thresholds != nil {
			for _, st := range d.Thresholds.Steps {
				if st.Value == nil || s.v >= *st.Value {
					color = map[string]string{"red": "#F2495C", "orange": "#FF9830", "green": "#73BF69"}[st.Color]
				}
			}
		}
		fmt.Fprintf(b, `<div class="bar"><span>%s</span><div><i style="width:%.1f%%;background:%s"></i></div><b style="color:%s">%s</b></div>`,
			html.EscapeString(s.name), 100*math.Max(s.v, 0)/math.Max(top, 1e-9), color, color, formatValue(s.v, d.Unit))
	}
}

func renderTable(b *strings.Builder, rp renderedPanel) {
	vec := vectorOf(rp)
	if len(vec) == 0 {
		b.WriteString(`<div class="nodata">No data</div>`)
		return
	}
	exclude := map[string]bool{}
	for _, tr := range rp.panel.Transformations {
		for k, v := range tr.Options.ExcludeByName {
			exclude[k] = v
		}
	}
	var cols []string
	seen := map[string]bool{}
	for _, s := range vec {
		s.l.Range(func(l labels.Label) {
			if !exclude[l.Name] && !seen[l.Name] {
				seen[l.Name] = true
				cols = append(cols, l.Name)
			}
		})
	}
	sort.Strings(cols)
	b.WriteString(`<table><tr>`)
	for _, c := range cols {
		fmt.Fprintf(b, `<th>%s</th>`, html.EscapeString(c))
	}
	if !exclude["Value"] {
		b.WriteString(`<th>Value</th>`)
	}
	b.WriteString(`</tr>`)
	for _, s := range vec {
		b.WriteString(`<tr>`)
		for _, c := range cols {
			fmt.Fprintf(b, `<td>%s</td>`, html.EscapeString(s.l.Get(c)))
		}
		if !exclude["Value"] {
			fmt.Fprintf(b, `<td>%s</td>`, formatValue(s.v, ""))
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</table>`)
}
