package board

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"aiservice/dashboards/internal/check"
	"aiservice/dashboards/slo"
)

func dashboards(t *testing.T) []check.Dashboard {
	t.Helper()
	spec, err := slo.Default()
	if err != nil {
		t.Fatal(err)
	}
	boards, err := All(spec)
	if err != nil {
		t.Fatal(err)
	}
	var out []check.Dashboard
	for _, b := range boards {
		j, err := b.JSON()
		if err != nil {
			t.Fatal(err)
		}
		d, err := check.ParseDashboard(j)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func TestEveryDashboardHasTheVariables(t *testing.T) {
	for _, d := range dashboards(t) {
		var names []string
		for _, v := range d.Templating.List {
			names = append(names, v.Name)
		}
		for _, want := range []string{"datasource", "job", "instance", "route"} {
			if !slices.Contains(names, want) {
				t.Errorf("%s: no $%s variable (have %v)", d.Title, want, names)
			}
		}
	}
}

// TestPanelsFitTheGrid: Grafana's grid is 24 columns; a panel past it is drawn off screen.
func TestPanelsFitTheGrid(t *testing.T) {
	for _, d := range dashboards(t) {
		for _, p := range d.Panels {
			if p.GridPos.X < 0 || p.GridPos.W < 1 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s: panel %q at x=%d w=%d leaves the 24-column grid", d.Title, p.Title, p.GridPos.X, p.GridPos.W)
			}
		}
	}
}

func TestEveryPanelIsDescribed(t *testing.T) {
	for _, d := range dashboards(t) {
		seen := map[string]bool{}
		for _, p := range d.Panels {
			if p.Type == "row" {
				continue
			}
			checks := []struct {
				ok   bool
				what string
			}{
				{p.Title != "", "a title"},
				{!seen[p.Title], "a unique title (the lint exclusions name panels by title)"},
				{p.Description != "", "a description"},
				{p.FieldConfig.Defaults.Unit != "", "a unit"},
				{p.Datasource.UID == "${datasource}", "the $datasource data source"},
				{len(p.Targets) > 0, "a query"},
			}
			for _, c := range checks {
				if !c.ok {
					t.Errorf("%s / %q: want %s", d.Title, p.Title, c.what)
				}
			}
			seen[p.Title] = true
		}
	}
}

// rateSentinel stands for $__rate_interval so that the parsed query shows where it was used.
const rateSentinel = 7777 * time.Second

func TestQueriesParseAndUseTheContract(t *testing.T) {
	root, err := check.Root()
	if err != nil {
		t.Fatal(err)
	}
	contract, err := check.ReadContract(root)
	if err != nil {
		t.Fatal(err)
	}
	known := contract.SeriesNames()
	spec, err := slo.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range spec.Rules("test").Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}
	known["ALERTS"] = true // Prometheus's own series of alert states

	values := map[string]string{}
	for k, v := range check.AllValues {
		values[k] = v
	}
	values["__rate_interval"] = "7777s"
	for _, d := range dashboards(t) {
		for _, q := range d.Queries() {
			pq, err := check.ParseQuery(q.Expr, values)
			if err != nil {
				t.Errorf("%s: %v", q, err)
				continue
			}
			for _, name := range pq.Metrics {
				if !known[name] {
					t.Errorf("%s: metric %s is neither in docs/metrics.md nor recorded by the SLO rules", q, name)
				}
			}
			// Every rate must follow Grafana's $__rate_interval, which adapts to the scrape
			// interval and the zoom, rather than a fixed window.
			parser.Inspect(pq.AST, func(n parser.Node, path []parser.Node) error {
				call, ok := n.(*parser.Call)
				if !ok || (call.Func.Name != "rate" && call.Func.Name != "irate") {
					return nil
				}
				if ms, ok := call.Args[0].(*parser.MatrixSelector); ok && ms.Range != rateSentinel {
					t.Errorf("%s: %s uses a fixed window, want $__rate_interval", q, call)
				}
				return nil
			})
			if strings.Contains(q.Expr, "_total") && !strings.Contains(q.Expr, "rate(") && !strings.Contains(q.Expr, "increase(") {
				t.Errorf("%s: a counter shown without rate or increase", q)
			}
		}
	}
}

// The linter's job/instance rules are excluded for the rule-based panels only: each must exist
// and read nothing but recording rules and ALERTS, which have no job or instance.
func TestLintExcludesOnlyRuleBasedPanels(t *testing.T) {
	spec, err := slo.Default()
	if err != nil {
		t.Fatal(err)
	}
	boards, err := All(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range boards {
		j, err := b.JSON()
		if err != nil {
			t.Fatal(err)
		}
		d, err := check.ParseDashboard(j)
		if err != nil {
			t.Fatal(err)
		}
		for _, title := range b.RuleBased {
			found := false
			for _, q := range d.Queries() {
				if q.Panel != title {
					continue
				}
				found = true
				pq, err := check.ParseQuery(q.Expr, check.AllValues)
				if err != nil {
					t.Fatal(err)
				}
				for _, name := range pq.Metrics {
					if !strings.HasPrefix(name, "slo:") && name != "ALERTS" {
						t.Errorf("%s: excluded from the job/instance lint rules but reads %s", q, name)
					}
				}
			}
			if !found {
				t.Errorf("%s: lint exclusion for a panel that does not exist: %q", b.File, title)
			}
		}
	}
	if cfg := Lint(boards); len(cfg.Exclusions) != 2 {
		t.Errorf("exclusions for %d rules, want only target-job-rule and target-instance-rule", len(cfg.Exclusions))
	}
}
