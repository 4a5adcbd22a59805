//lint:file-ignore SA1019 The v1 dashboard schema on purpose: it is what Grafana's JSON import and dashboard-linter read; v2 needs Grafana 12 with a feature flag.

package board

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"aiservice/dashboards/slo"
)

// spend is the per-second rate of money spent (the _sum of the per-request cost histogram).
func spend(by ...string) string {
	return sumBy(rate("cost_request_cost_usd_sum", byRoute), by...)
}

// perHour turns a per-second rate into a per-hour one: spend reads better as USD/h.
func perHour(expr string) string { return expr + " * 3600" }

// cost is the spend dashboard: money, what it buys (tokens, API calls), what is not priced, and
// what the service itself uses.
func cost(slo.Spec) (*dashboard.DashboardBuilder, string, []string) {
	b := newDashboard("aiservice-cost", "aiservice / Cost",
		"What aiservice spends on model providers (USD), the usage behind it, and the resources the gateway itself uses.").
		WithRow(dashboard.NewRowBuilder("Spend")).
		WithPanel(statPanel(panel{
			title:       "Spend rate (USD per hour)",
			description: "Current spend on model providers, in US dollars per hour, from the per-request cost of priced requests.",
			unit:        "currencyUSD",
			queries:     targets{query(perHour(spend()), "USD/h")},
		}).Span(6)).
		WithPanel(statPanel(panel{
			title:       "Total spend over the range",
			description: "US dollars spent on model providers over the selected time range.",
			unit:        "currencyUSD",
			queries:     targets{query(sumBy(`increase(`+sel("cost_request_cost_usd_sum", byRoute)+`[$__range])`), "USD")},
		}).Span(6)).
		WithPanel(statPanel(panel{
			title:       "Unpriced requests over the range",
			description: "Requests for a model without a configured price: their cost is unknown, not $0. Add the model to prices: in the service config.",
			unit:        "short",
			queries:     targets{query(sumBy(`increase(`+sel("cost_unpriced_requests_total", byJob)+`[$__range])`)+" or vector(0)", "unpriced")},
		}).Span(6).Thresholds(thresholds("green", step(1, "orange")))).
		WithPanel(statPanel(panel{
			title:       "Streams with estimated usage over the range",
			description: "Streams whose token usage was estimated because the upstream sent none or the stream was cut: their cost is approximate.",
			unit:        "short",
			queries:     targets{query(sumBy(`increase(`+sel("cost_estimated_usage_total", byJob)+`[$__range])`)+" or vector(0)", "estimated")},
		}).Span(6).Thresholds(thresholds("green", step(1, "yellow")))).
		WithPanel(timeseriesPanel(panel{
			title:       "Spend by provider",
			description: "US dollars per hour, by model provider.",
			unit:        "currencyUSD",
			queries:     targets{query(perHour(spend("provider")), "{{provider}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Spend by model",
			description: "US dollars per hour, by model.",
			unit:        "currencyUSD",
			queries:     targets{query(perHour(spend("model")), "{{model}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title: "Spend by provider and dialect",
			description: "US dollars per hour, by model provider and the route the client asked on: /v1/messages is Anthropic's dialect, " +
				"the /v1/chat, /v1/responses and /v1/embeddings routes OpenAI's; a provider of the other dialect means the request was translated.",
			unit:    "currencyUSD",
			queries: targets{query(perHour(spend("provider", "route")), "{{provider}} ← {{route}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Spend by route",
			description: "US dollars per hour, by API route.",
			unit:        "currencyUSD",
			queries:     targets{query(perHour(spend("route")), "{{route}}")},
		})).
		WithRow(dashboard.NewRowBuilder("Usage")).
		WithPanel(timeseriesPanel(panel{
			title:       "Tokens per second by type",
			description: "Input and output tokens reported (or estimated) for upstream calls, per second.",
			unit:        "cps",
			queries:     targets{query(sumBy(rate("cost_provider_tokens_total", byJob), "type"), "{{type}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Provider API calls by outcome",
			description: "Upstream attempts per second: success, error, timeout, rate_limited, canceled. Failed attempts may still be billed.",
			unit:        "reqps",
			queries:     targets{query(sumBy(rate("cost_provider_api_calls_total", byJob), "outcome"), "{{outcome}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Cost per request percentiles",
			description: "US dollars per priced request, estimated from the cost histogram's buckets.",
			unit:        "currencyUSD",
			queries:     quantileQueries("cost_request_cost_usd", []string{byRoute}),
		})).
		WithRow(dashboard.NewRowBuilder("Keys and budgets")).
		WithPanel(timeseriesPanel(panel{
			title:       "Spend by key",
			description: "US dollars per hour that each virtual key's settled requests cost (limits_spend_usd_total; key names come from the config).",
			unit:        "currencyUSD",
			queries:     targets{query(perHour(sumBy(rate("limits_spend_usd_total", byJob), "key")), "{{key}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Budget left by key",
			description: "What each key's daily and monthly USD budget had left at its last request, reservations in flight counted as spent. Budgets reset at 00:00 UTC (daily) and on the 1st (monthly).",
			unit:        "currencyUSD",
			queries:     targets{query(`min by (key, period) (`+sel("limits_budget_remaining_usd", byJob)+`)`, "{{key}} {{period}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Requests refused by a key's own limit",
			description: "429s per second by key and limit (parallel, requests, tokens, daily_budget, monthly_budget): the client's own limit, not counted against availability.",
			unit:        "reqps",
			queries:     targets{query(sumBy(rate("limits_limited_total", byJob), "key", "limit"), "{{key}} {{limit}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Tokens reserved vs used",
			description: "Tokens per second reserved before forwarding (prompt + max output) and used after settling: the gap is how pessimistic the estimates are.",
			unit:        "cps",
			queries: targets{query(sumBy(rate("limits_tokens_reserved_total", byJob)), "reserved"),
				query(sumBy(rate("limits_tokens_used_total", byJob)), "used")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Limit store decisions",
			description: "Reservations per second decided by the store, or by the failure mode while it is unreachable (fail_open: local limit ÷ replicas; fail_closed: 503).",
			unit:        "reqps",
			queries:     targets{query(sumBy(rate("store_decisions_total", byJob), "decision"), "{{decision}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Limit store latency",
			description: "Store calls (reserve, settle) percentiles; every call is bounded by store.timeout.",
			unit:        "s",
			queries:     quantileQueries("store_operation_duration_seconds", []string{byJob}, "op"),
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Saved by the response cache",
			description: "US dollars per hour the cache hits saved: what their answers cost when they were made (cost_saved_usd_total). A hit costs the client $0.",
			unit:        "currencyUSD",
			queries:     targets{query(perHour(sumBy(rate("cost_saved_usd_total", byJob))), "saved USD/h")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Response cache hits and misses",
			description: "Cacheable requests per second answered from the cache (hit) or not (miss), by kind (chat, stream, embeddings).",
			unit:        "reqps",
			queries: targets{query(sumBy(rate("cache_hits_total", byJob), "kind"), "hit {{kind}}"),
				query(sumBy(rate("cache_misses_total", byJob), "kind"), "miss {{kind}}")},
		})).
		WithRow(dashboard.NewRowBuilder("Resources")).
		WithPanel(timeseriesPanel(panel{
			title:       "CPU (cores)",
			description: "Process CPU use of each instance, in cores: the rate of client_golang's process_cpu_seconds_total, so it is the same for every scraper.",
			unit:        "none",
			queries:     targets{query(sumBy(rate("process_cpu_seconds_total", byJob), "instance"), "{{instance}}")},
		}).Span(12)).
		WithPanel(timeseriesPanel(panel{
			title:       "Memory",
			description: "Process resident memory of each instance (process_resident_memory_bytes).",
			unit:        "bytes",
			queries:     targets{query(sumBy(sel("process_resident_memory_bytes", byJob), "instance"), "{{instance}}")},
		}).Span(12))
	return b, "cost.json", nil
}
