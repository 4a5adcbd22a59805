// Package check reads the generated dashboards back as Grafana would, and holds what the tests
// need to check their queries: variable expansion, PromQL parsing, metric names, and the metric
// contract of docs/metrics.md.
package check

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Dashboard is the part of a dashboard's JSON the checks use.
type Dashboard struct {
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Panel is one panel (rows included; their Type is "row").
type Panel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	GridPos struct {
		X int `json:"x"`
		W int `json:"w"`
	} `json:"gridPos"`
	Description string `json:"description"`
	Datasource  struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []Target `json:"targets"`
}

// Target is one query of a panel.
type Target struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

// Variable is a template variable.
type Variable struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Query any    `json:"query"`
}

// ParseDashboard decodes a dashboard's JSON.
func ParseDashboard(b []byte) (Dashboard, error) {
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return Dashboard{}, fmt.Errorf("decode dashboard: %w", err)
	}
	return d, nil
}

// Query is one target with where it comes from, for messages.
type Query struct {
	Dashboard, Panel, RefID, Expr string
}

func (q Query) String() string {
	return fmt.Sprintf("%s / %q / %s", q.Dashboard, q.Panel, q.RefID)
}

// Queries lists every target of every panel.
func (d Dashboard) Queries() []Query {
	var out []Query
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			out = append(out, Query{Dashboard: d.Title, Panel: p.Title, RefID: t.RefID, Expr: t.Expr})
		}
	}
	return out
}

// AllValues expands the dashboard variables as Grafana does with "All" selected (allValue .+),
// and the time-range variables with durations that fit a short test run.
var AllValues = map[string]string{
	"__rate_interval": "1m",
	"__range":         "5m",
	"job":             ".+",
	"instance":        ".+",
	"route":           ".+",
	"route_group":     ".+",
}

var variableRe = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

// Expand substitutes $name and ${name}; an unknown variable is an error, not left in place.
func Expand(expr string, values map[string]string) (string, error) {
	var missing []string
	out := variableRe.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variableRe.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("unknown variables %v in %q", missing, expr)
	}
	return out, nil
}

// Parse parses PromQL with the current Prometheus parser.
func Parse(expr string) (parser.Expr, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", expr, err)
	}
	return e, nil
}

// Parsed is a dashboard query with its variables expanded.
type Parsed struct {
	Expr    string      // the expanded PromQL
	AST     parser.Expr // its parse
	Metrics []string    // the metric names it selects
}

// ParseQuery expands a dashboard query's variables and parses it.
func ParseQuery(expr string, values map[string]string) (Parsed, error) {
	expanded, err := Expand(expr, values)
	if err != nil {
		return Parsed{}, err
	}
	e, err := Parse(expanded)
	if err != nil {
		return Parsed{}, err
	}
	return Parsed{Expr: expanded, AST: e, Metrics: MetricNames(e)}, nil
}

// MetricNames are the metric names an expression selects, sorted and unique.
func MetricNames(e parser.Expr) []string {
	var names []string
	for _, ms := range parser.ExtractSelectors(e) {
		for _, m := range ms {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				names = append(names, m.Value)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Root is the repository root: the first directory up from the working directory holding go.work.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.work above the working directory")
		}
		dir = parent
	}
}

// Contract maps every metric name of docs/metrics.md to its type (counter, gauge, histogram).
type Contract map[string]string

var contractRow = regexp.MustCompile("^\\|\\s*`([a-z_:][a-z0-9_:]*)`\\s*\\|\\s*(counter|gauge|histogram|summary)\\s*\\|")

// ReadContract parses the metric tables of docs/metrics.md.
func ReadContract(root string) (Contract, error) {
	b, err := os.ReadFile(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		return nil, fmt.Errorf("read metric contract: %w", err)
	}
	c := Contract{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if m := contractRow.FindStringSubmatch(sc.Text()); m != nil {
			c[m[1]] = m[2]
		}
	}
	if len(c) == 0 {
		return nil, errors.New("read metric contract: no metric table rows in docs/metrics.md")
	}
	return c, nil
}

// Series are the names a metric family is exposed under: a histogram's _bucket, _sum and
// _count, a counter's or gauge's own name.
func Series(name, typ string) []string {
	switch typ {
	case "histogram":
		return []string{name + "_bucket", name + "_sum", name + "_count"}
	case "summary":
		return []string{name, name + "_sum", name + "_count"}
	}
	return []string{name}
}

// SeriesNames is every series name the contract allows.
func (c Contract) SeriesNames() map[string]bool {
	out := map[string]bool{}
	for name, typ := range c {
		for _, s := range Series(name, typ) {
			out[s] = true
		}
	}
	return out
}

// ExposedFamilies reads the "# TYPE name type" lines of a Prometheus text exposition.
func ExposedFamilies(exposition []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(exposition))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	return out
}
