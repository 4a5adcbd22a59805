//lint:file-ignore SA1019 The v1 dashboard schema on purpose: it is what Grafana's JSON import and dashboard-linter read; v2 needs Grafana 12 with a feature flag.

package board

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Tag is on every dashboard; the dashboards link to each other through it.
const Tag = "aiservice"

// Every query filters by these variables. "All" sends allValue (.+), as the dashboard linter
// requires, so a series without the label would not match: only the service's own metrics, which
// always carry job and instance, are filtered by them.
const (
	byJob   = `job=~"$job", instance=~"$instance"`
	byRoute = byJob + `, route=~"$route"`
)

// sel renders a selector of metric with the given matchers.
func sel(metric string, matchers ...string) string {
	return metric + "{" + strings.Join(matchers, ", ") + "}"
}

// rate is the per-second rate of a counter (or a histogram's _bucket/_sum/_count) over
// $__rate_interval, which Grafana keeps at least four scrape intervals long.
func rate(metric string, matchers ...string) string {
	return fmt.Sprintf("rate(%s[$__rate_interval])", sel(metric, matchers...))
}

// sumBy aggregates expr by labels (none: sum of everything).
func sumBy(expr string, labels ...string) string {
	if len(labels) == 0 {
		return "sum(" + expr + ")"
	}
	return fmt.Sprintf("sum by (%s) (%s)", strings.Join(labels, ", "), expr)
}

// quantile is the q-quantile of a histogram, per group of labels.
func quantile(q float64, histogram string, matchers []string, by ...string) string {
	return fmt.Sprintf("histogram_quantile(%v, %s)", q, sumBy(rate(histogram+"_bucket", matchers...), append(by, "le")...))
}

// quantiles are the percentiles shown for every latency: the median, and the tail users notice.
var quantiles = []struct {
	q     float64
	label string
}{{0.5, "p50"}, {0.95, "p95"}, {0.99, "p99"}}

// quantileQueries returns one query per percentile, legend "p95 {{route}}".
func quantileQueries(histogram string, matchers []string, by ...string) targets {
	var out targets
	for _, p := range quantiles {
		legend := p.label
		for _, l := range by {
			legend += " {{" + l + "}}"
		}
		out = append(out, query(quantile(p.q, histogram, matchers, by...), legend))
	}
	return out
}

func datasourceRef() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

// query is a Prometheus target; the refId is set when added to a panel.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(expr).LegendFormat(legend).Datasource(datasourceRef())
}

func refID(i int) string { return string(rune('A' + i)) }

// targets are the queries of a panel.
type targets = []*prometheus.DataqueryBuilder

// panel is what every visualisation needs: the linter (and on-call engineers) want a title, a
// description and a unit on each.
type panel struct {
	title, description, unit string
	queries                  targets
}

func timeseriesPanel(p panel) *timeseries.PanelBuilder {
	b := timeseries.NewPanelBuilder().
		Title(p.title).
		Description(p.description).
		Unit(p.unit).
		Datasource(datasourceRef()).
		Span(8).Height(8).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
	for i, q := range p.queries {
		b.WithTarget(q.RefId(refID(i)))
	}
	return b
}

func statPanel(p panel) *stat.PanelBuilder {
	b := stat.NewPanelBuilder().
		Title(p.title).
		Description(p.description).
		Unit(p.unit).
		Datasource(datasourceRef()).
		Span(4).Height(5).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeArea)
	for i, q := range p.queries {
		b.WithTarget(q.RefId(refID(i)))
	}
	return b
}

// thresholds colours a stat: base colour, then each step's colour from its value up.
func thresholds(base string, steps ...dashboard.Threshold) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().
		Mode(dashboard.ThresholdsModeAbsolute).
		Steps(append([]dashboard.Threshold{{Color: base}}, steps...))
}

func step(v float64, color string) dashboard.Threshold {
	return dashboard.Threshold{Value: cog.ToPtr(v), Color: color}
}

// queryVariable is a multi-select filter on a label, refreshed with the time range (the
// linter's template rules).
func queryVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Datasource(datasourceRef()).
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".+")
}

// newDashboard has what every dashboard of the service shares: the data source, job and
// instance variables, and links to the other dashboards.
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{Tag, "generated"}).
		// Provisioned from code: edits in the UI would be lost at the next import.
		Readonly().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		Link(dashboard.NewDashboardLinkBuilder("aiservice dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{Tag}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true)).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus")).
		// slo_objective_ratio is exported by every aiservice process from its start, and by
		// nothing else: every job and instance running aiservice has it.
		WithVariable(queryVariable("job", "Job", `label_values(slo_objective_ratio, job)`)).
		WithVariable(queryVariable("instance", "Instance", `label_values(slo_objective_ratio{job=~"$job"}, instance)`)).
		WithVariable(queryVariable("route", "Route", `label_values(http_requests_total{job=~"$job", instance=~"$instance"}, route)`))
}
