//lint:file-ignore SA1019 The v1 dashboard schema on purpose: it is what Grafana's JSON import and dashboard-linter read; v2 needs Grafana 12 with a feature flag.

package board

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// balanceRow is the load balancing row: how a model's deployments share its traffic, how fast
// each answers as the latency policy sees it, and which ones are resting or ejected.
func balanceRow(b *dashboard.DashboardBuilder) *dashboard.DashboardBuilder {
	return b.WithRow(dashboard.NewRowBuilder("Load balancing")).
		WithPanel(timeseriesPanel(panel{
			title:       "Attempts by deployment",
			description: "Upstream attempts per second to each deployment of a model, by outcome: the shares the policy gives them.",
			unit:        "reqps",
			queries: targets{query(sumBy(rate("deployment_requests_total", byJob), "model", "deployment", "outcome"),
				"{{model}} {{deployment}} {{outcome}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Latency EWMA by deployment",
			description: "The peak-EWMA upstream latency the latency policy compares, as of each deployment's last answer.",
			unit:        "s",
			queries: targets{query(`max by (model, deployment) (`+sel("deployment_latency_ewma_seconds", byJob)+`)`,
				"{{model}} {{deployment}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "In flight by deployment",
			description: "Upstream attempts in flight per deployment, open streams included: what least_busy compares.",
			unit:        "short",
			queries: targets{query(sumBy(sel("deployment_in_flight", byJob), "model", "deployment"),
				"{{model}} {{deployment}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Cooldowns by deployment",
			description: "Times per second an upstream's 429 with Retry-After took a deployment out of the rotation for that long.",
			unit:        "ops",
			queries: targets{query(sumBy(rate("deployment_cooldowns_total", byJob), "model", "deployment"),
				"{{model}} {{deployment}}")},
		}))
}
