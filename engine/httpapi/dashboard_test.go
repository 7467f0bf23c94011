package httpapi

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The Grafana dashboard and the ServiceMonitor ship beside the operator; a
// panel that names a metric or label the engine does not serve shows "No
// data" and nobody notices until they need it.
const (
	dashboardFile = "../../config/grafana/points-engine-dashboard.json"
	monitorFile   = "../../config/prometheus/monitor.yaml"
)

// TestDashboardQueriesServedMetrics checks every query of the dashboard
// against what a running engine serves at /metrics: each metric exists with
// the type its suffix implies, each label the query groups or filters by is
// on its series, and the program label is the one the ServiceMonitor
// attaches.
func TestDashboardQueriesServedMetrics(t *testing.T) {
	exprs := dashboardExprs(t)
	if len(exprs) < 10 {
		t.Fatalf("found %d queries in %s, expected the dashboard's panels", len(exprs), dashboardFile)
	}
	e := newEnv(t, testSnapshot)
	// One write, so that the labelled request histogram has series.
	if r := e.do(t, "POST", "/v1/members", ingestKey, `{"idempotencyKey": "d1", "memberId": "m1"}`); r.status != 201 {
		t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	r := e.do(t, "GET", "/metrics", "", nil)
	if r.status != 200 {
		t.Fatalf("metrics: %d", r.status)
	}
	served := parseExposition(string(r.body))
	targets := monitorTargetLabels(t)
	for _, problem := range checkQueries(exprs, served, targets) {
		t.Error(problem)
	}
}

// TestCheckQueriesFindsMistakes shows that the dashboard check fails on the
// mistakes it is there to catch.
func TestCheckQueriesFindsMistakes(t *testing.T) {
	served := parseExposition(`# TYPE loyalty_engine_commit_duration_seconds histogram
loyalty_engine_commit_duration_seconds_bucket{le="0.001"} 1
loyalty_engine_commit_duration_seconds_sum 0.0005
loyalty_engine_commit_duration_seconds_count 1
# TYPE loyalty_engine_http_request_duration_seconds histogram
loyalty_engine_http_request_duration_seconds_bucket{code="201",route="POST /v1/members",le="0.001"} 1
loyalty_engine_http_request_duration_seconds_count{code="201",route="POST /v1/members"} 1
# TYPE loyalty_engine_points_issued_total counter
loyalty_engine_points_issued_total 0
`)
	targets := []string{"loyaltyops_io_program"}
	tests := []struct {
		expr string
		want string // in the only problem; "" for none
	}{
		{`histogram_quantile(0.99, sum by (le, route) (rate(loyalty_engine_http_request_duration_seconds_bucket{loyaltyops_io_program=~"$program"}[5m])))`, ""},
		{`sum(rate(loyalty_engine_points_issued_total{loyaltyops_io_program=~"$program"}[5m]))`, ""},
		{`sum(rate(loyalty_engine_points_isued_total[5m]))`, "loyalty_engine_points_isued_total is not served"},
		{`sum(rate(loyalty_engine_points_issued_total_bucket[5m]))`, "not a histogram"},
		{`sum by (route) (rate(loyalty_engine_commit_duration_seconds_count[5m]))`, `label "route"`},
		{`sum by (code) (rate(loyalty_engine_http_request_duration_seconds_count{program=~"$program"}[5m]))`, `label "program"`},
		{`max(kube_pod_info)`, "names no engine metric"},
	}
	for _, tt := range tests {
		problems := checkQueries([]string{tt.expr}, served, targets)
		switch {
		case tt.want == "" && len(problems) != 0:
			t.Errorf("%s: unexpected problems %q", tt.expr, problems)
		case tt.want != "" && (len(problems) != 1 || !strings.Contains(problems[0], tt.want)):
			t.Errorf("%s: problems %q, want one about %q", tt.expr, problems, tt.want)
		}
	}
}

func dashboardExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var exprs []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if s, ok := c.(string); ok && k == "expr" {
					exprs = append(exprs, s)
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	slices.Sort(exprs)
	return exprs
}

// monitorTargetLabels is the engine ServiceMonitor's targetLabels as
// Prometheus names them: characters other than letters, digits and "_"
// become "_".
func monitorTargetLabels(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(monitorFile)
	if err != nil {
		t.Fatal(err)
	}
	for doc := range strings.SplitSeq(string(data), "\n---\n") {
		var m struct {
			Metadata struct{ Name string }
			Spec     struct {
				TargetLabels []string `json:"targetLabels"`
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%s: %v", monitorFile, err)
		}
		if m.Metadata.Name != "loyalty-points-engines" {
			continue
		}
		var out []string
		for _, l := range m.Spec.TargetLabels {
			out = append(out, regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(l, "_"))
		}
		return out
	}
	t.Fatalf("%s has no ServiceMonitor loyalty-points-engines", monitorFile)
	return nil
}

// servedMetric is one metric family as served: its type and the label
// names on any of its samples.
type servedMetric struct {
	typ    string
	labels map[string]bool
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? `)

// parseExposition reads the Prometheus text format: families from "# TYPE"
// lines, label names from their samples.
func parseExposition(text string) map[string]*servedMetric {
	families := map[string]*servedMetric{}
	for line := range strings.SplitSeq(text, "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(f, " ")
			families[name] = &servedMetric{typ: typ, labels: map[string]bool{}}
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fam := families[familyOf(m[1], families)]
		if fam == nil {
			continue
		}
		for pair := range strings.SplitSeq(m[2], ",") {
			if name, _, ok := strings.Cut(pair, "="); ok {
				fam.labels[name] = true
			}
		}
	}
	return families
}

// familyOf is the family a sample or query name belongs to: a histogram's
// _bucket, _sum and _count series belong to the histogram.
func familyOf(name string, families map[string]*servedMetric) string {
	if _, ok := families[name]; ok {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if _, ok := families[base]; ok {
				return base
			}
		}
	}
	return name
}

var (
	engineMetric = regexp.MustCompile(`\bloyalty_engine_[a-zA-Z0-9_]+`)
	// A selector's matchers, and a grouping clause.
	selector = regexp.MustCompile(`(loyalty_engine_[a-zA-Z0-9_]+)\{([^}]*)\}`)
	matcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	grouping = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)
)

// checkQueries lists what is wrong with the queries against the served
// metrics: unknown metrics, histogram suffixes on other types, and labels
// that no series of the query's metrics carries. targets are the labels
// the scrape adds to every series.
func checkQueries(exprs []string, served map[string]*servedMetric, targets []string) []string {
	var problems []string
	for _, expr := range exprs {
		names := engineMetric.FindAllString(expr, -1)
		if len(names) == 0 {
			problems = append(problems, fmt.Sprintf("%s: names no engine metric", expr))
			continue
		}
		var families []*servedMetric
		for _, name := range names {
			fam := served[familyOf(name, served)]
			switch {
			case fam == nil:
				problems = append(problems, fmt.Sprintf("%s: %s is not served at /metrics", expr, name))
				continue
			case name != familyOf(name, served) && fam.typ != "histogram":
				problems = append(problems, fmt.Sprintf("%s: %s is a %s, not a histogram", expr, familyOf(name, served), fam.typ))
				continue
			}
			families = append(families, fam)
		}
		if len(families) < len(names) {
			continue
		}
		var labels []string
		for _, sel := range selector.FindAllStringSubmatch(expr, -1) {
			for _, m := range matcher.FindAllStringSubmatch(sel[2], -1) {
				labels = append(labels, m[1])
			}
		}
		for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
			for l := range strings.SplitSeq(g[1], ",") {
				labels = append(labels, strings.TrimSpace(l))
			}
		}
		for _, l := range labels {
			if l == "" || slices.Contains(targets, l) {
				continue
			}
			if !slices.ContainsFunc(families, func(f *servedMetric) bool { return f.labels[l] }) {
				problems = append(problems, fmt.Sprintf("%s: no series of %s has the label %q", expr, strings.Join(names, ", "), l))
			}
		}
	}
	return problems
}
