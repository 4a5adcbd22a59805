//lint:file-ignore SA1019 The v1 dashboard schema on purpose: it is what Grafana's JSON import and dashboard-linter read; v2 needs Grafana 12 with a feature flag.

package board

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"aiservice/dashboards/slo"
)

// burnWindows are the burn rates shown: the short and long windows of the page alerts.
var burnWindows = []string{"5m", "30m", "1h", "6h"}

// sloBoard shows, per SLO kind and route group, the objective, the SLI, the error budget left
// in the period, the burn rates the alerts look at, and the alerts firing. Everything but the
// last row reads the recording rules generated from the same spec, so names cannot drift.
func sloBoard(spec slo.Spec) (*dashboard.DashboardBuilder, string, []string) {
	b := newDashboard("aiservice-slo", "aiservice / SLO",
		fmt.Sprintf("Service level objectives of aiservice over %d days, per route group: SLI, error budget, burn rates and burn-rate alerts (rules: dashboards/out/slo-rules.yaml).", spec.PeriodDays)).
		WithVariable(queryVariable("route_group", "Route group",
			`label_values(slo_objective_ratio{job=~"$job", instance=~"$instance"}, route_group)`))
	var ruleBased []string
	add := func(p cog.Builder[dashboard.Panel], title string) {
		ruleBased = append(ruleBased, title)
		b.WithPanel(p)
	}
	for _, k := range spec.SLOs {
		name := strings.ToUpper(k.Name[:1]) + k.Name[1:]
		rules := fmt.Sprintf(`%s=%q, %s=%q, %s=~"$route_group"`, slo.LabelService, spec.Service, slo.LabelKind, k.Name, slo.LabelRouteGroup)
		b.WithRow(dashboard.NewRowBuilder(fmt.Sprintf("%s: %v%% over %d days", name, k.Objective, spec.PeriodDays)))

		title := name + " objective"
		add(statPanel(panel{
			title:       title,
			description: k.Description + " Objective: the share of events that must be good over the period.",
			unit:        "percentunit",
			queries:     targets{query(sel(slo.MetricObjective, rules), "{{route_group}}")},
		}).Decimals(2).Span(6), title)

		title = name + " SLI now (5m)"
		add(statPanel(panel{
			title:       title,
			description: "Share of good events over the last 5 minutes. No value: no traffic.",
			unit:        "percentunit",
			queries:     targets{query("1 - "+sel(slo.SLIErrorMetric("5m"), rules), "{{route_group}}")},
		}).Decimals(3).Span(6), title)

		title = fmt.Sprintf("%s SLI over %d days", name, spec.PeriodDays)
		add(statPanel(panel{
			title:       title,
			description: "Share of good events over the SLO period (average of the 5-minute SLI over the periods with traffic).",
			unit:        "percentunit",
			queries:     targets{query("1 - "+sel(slo.SLIErrorMetric(fmt.Sprintf("%dd", spec.PeriodDays)), rules), "{{route_group}}")},
		}).Decimals(3).Span(6), title)

		title = name + " error budget remaining"
		add(statPanel(panel{
			title:       title,
			description: fmt.Sprintf("Share of the %d-day error budget not spent yet; below 0 the SLO is missed.", spec.PeriodDays),
			unit:        "percentunit",
			queries:     targets{query(sel(slo.MetricBudgetRemaining, rules), "{{route_group}}")},
		}).Decimals(1).Span(6).Thresholds(thresholds("red", step(0, "orange"), step(0.25, "green"))), title)

		title = name + " burn rate"
		var burn targets
		for _, w := range burnWindows {
			burn = append(burn, query(
				sel(slo.SLIErrorMetric(w), rules)+"\n/ on(sloth_id, sloth_slo, sloth_service) group_left\n"+sel(slo.MetricErrorBudget, rules),
				"{{route_group}} "+w))
		}
		add(timeseriesPanel(panel{
			title:       title,
			description: "Error ratio divided by the error budget, over 5m, 30m, 1h and 6h: 1 spends the budget exactly over the period. Pages fire above 14.4 (1h and 5m) or 6 (6h and 30m).",
			unit:        "none",
			queries:     burn,
		}).Span(16), title)

		title = name + " burn-rate alerts firing"
		add(statPanel(panel{
			title:       title,
			description: "Multi-window burn-rate alerts firing now, by route group and severity (page or ticket); 0 when none.",
			unit:        "short",
			queries: targets{query(
				fmt.Sprintf(`sum by (route_group, sloth_severity) (ALERTS{alertstate="firing", %s}) or vector(0)`, rules),
				"{{route_group}} {{sloth_severity}}")},
		}).Span(8).Thresholds(thresholds("green", step(1, "red"))), title)
	}

	events := []string{byRoute, `route_group=~"$route_group"`}
	b.WithRow(dashboard.NewRowBuilder("Events from the service")).
		WithPanel(timeseriesPanel(panel{
			title:       "Bad events by SLO and route",
			description: "Events counted against an SLO, per second: a 5xx for availability, a 2xx over the route group's threshold for latency.",
			unit:        "ops",
			queries:     targets{query(sumBy(rate(slo.EventsMetric, append(events, `result="bad"`)...), "slo", "route"), "{{slo}} {{route}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Events by SLO and result",
			description: "Good and bad events per second; 4xx responses are not events of the availability SLO.",
			unit:        "ops",
			queries:     targets{query(sumBy(rate(slo.EventsMetric, events...), "slo", "result"), "{{slo}} {{result}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Latency thresholds",
			description: "The latency SLI threshold of each route group, as configured in the running service.",
			unit:        "s",
			queries: targets{query(
				`max by (route_group) (`+sel("slo_latency_threshold_seconds", byJob, `route_group=~"$route_group"`)+`)`,
				"{{route_group}}")},
		}))
	return b, "slo.json", ruleBased
}
