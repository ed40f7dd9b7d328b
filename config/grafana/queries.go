// Package grafana holds the SecureSite Grafana dashboard (securesite.json) and reads the PromQL
// queries out of it and out of the chart's alert rules, so a test can check that every metric
// they query is one the manager exports.
package grafana

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Dashboard is securesite.json, for tools that install it (e.g. as a Grafana sidecar ConfigMap).
//
//go:embed securesite.json
var Dashboard []byte

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

// DashboardQueries returns each panel's title and its PromQL expressions.
func DashboardQueries(dashboard []byte) (map[string][]string, error) {
	var d struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(dashboard, &d); err != nil {
		return nil, fmt.Errorf("parsing the dashboard: %w", err)
	}
	out := map[string][]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				if t.Expr != "" {
					out[p.Title] = append(out[p.Title], t.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out, nil
}

// RuleQueries returns each alerting or recording rule's name and expression from a Prometheus
// rule file (groups: [{rules: [...]}]).
func RuleQueries(rules []byte) (map[string]string, error) {
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert  string `json:"alert"`
				Record string `json:"record"`
				Expr   string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(rules, &f); err != nil {
		return nil, fmt.Errorf("parsing the rules: %w", err)
	}
	out := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out[r.Alert+r.Record] = r.Expr
		}
	}
	return out, nil
}

var (
	promString   = regexp.MustCompile("\"(\\\\.|[^\"\\\\])*\"|'(\\\\.|[^'\\\\])*'|`[^`]*`")
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
		"unless", "offset", "atan2", "inf", "nan", "Inf", "NaN", "start", "end"}
)

// MetricNames returns the metric names a PromQL expression selects: every identifier that is not
// a function or aggregation (followed by "("), a keyword, a label name inside {} or a grouping
// clause, a string or a duration.
func MetricNames(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, m := range promIdent.FindAllStringIndex(s, -1) {
		tok := s[m[0]:m[1]]
		if strings.HasSuffix(tok, "(") {
			continue
		}
		// An identifier glued to a preceding digit is part of a number (1e3) or a duration.
		if m[0] > 0 && (s[m[0]-1] >= '0' && s[m[0]-1] <= '9' || s[m[0]-1] == '.') {
			continue
		}
		if slices.Contains(promKeywords, tok) || slices.Contains(names, tok) {
			continue
		}
		names = append(names, tok)
	}
	return names
}
