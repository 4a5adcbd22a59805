//lint:file-ignore SA1019 The v1 dashboard schema on purpose: it is what Grafana's JSON import and dashboard-linter read; v2 needs Grafana 12 with a feature flag.

package board

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"aiservice/dashboards/slo"
)

// overview is the RED dashboard: rate, errors and duration by route, then what explains them
// (streaming, gateway overhead, upstream resilience).
func overview(slo.Spec) (*dashboard.DashboardBuilder, string, []string) {
	route := []string{byRoute}
	b := newDashboard("aiservice-overview", "aiservice / Service overview",
		"Rate, errors and duration of aiservice by route, streaming latency, gateway overhead and upstream resilience.").
		WithRow(dashboard.NewRowBuilder("Rate, errors, duration")).
		WithPanel(timeseriesPanel(panel{
			title:       "Request rate by route",
			description: "Requests answered per second, by route template.",
			unit:        "reqps",
			queries:     targets{query(sumBy(rate("http_requests_total", byRoute), "route"), "{{route}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Server error ratio by route",
			description: "Share of requests answered with a 5xx. Routes without any 5xx show 0 rather than no data.",
			unit:        "percentunit",
			queries: targets{query(
				"("+sumBy(rate("http_requests_total", byRoute, `code=~"5.."`), "route")+
					" or 0 * "+sumBy(rate("http_requests_total", byRoute), "route")+")\n/ "+
					sumBy(rate("http_requests_total", byRoute), "route"),
				"{{route}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Requests by status code",
			description: "Requests answered per second, by HTTP status code: 4xx are client errors (not counted against the availability SLO), 5xx server errors.",
			unit:        "reqps",
			queries:     targets{query(sumBy(rate("http_requests_total", byRoute), "code"), "{{code}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title: "Requests by API dialect",
			description: "Model requests per second by the dialect the client speaks: OpenAI's routes (chat completions, Responses, embeddings, images) " +
				"and Anthropic's Messages (/v1/messages, count_tokens). Which dialect the upstream speaks is the provider's: see spend by provider.",
			unit: "reqps",
			queries: targets{
				query(sumBy(rate("http_requests_total", byRoute, `route=~"/v1/chat.*|/v1/responses.*|/v1/embeddings|/v1/images.*"`)), "openai"),
				query(sumBy(rate("http_requests_total", byRoute, `route=~"/v1/messages.*"`)), "anthropic"),
			},
		}).Span(24)).
		WithPanel(timeseriesPanel(panel{
			title:       "Request duration percentiles by route",
			description: "Time from request read to last byte written; for streams, the whole stream.",
			unit:        "s",
			queries:     quantileQueries("http_request_duration_seconds", route, "route"),
		}).Span(12)).
		WithPanel(timeseriesPanel(panel{
			title:       "Requests in flight by route",
			description: "Requests being handled right now.",
			unit:        "short",
			queries:     targets{query(sumBy(sel("http_requests_in_flight", byRoute), "route"), "{{route}}")},
		}).Span(12)).
		WithRow(dashboard.NewRowBuilder("Streaming")).
		WithPanel(timeseriesPanel(panel{
			title:       "Time to first token by model",
			description: "Streaming: from request start to the first content chunk sent to the client.",
			unit:        "s",
			queries:     quantileQueries("http_stream_time_to_first_token_seconds", route, "model"),
		}).Span(12)).
		WithPanel(timeseriesPanel(panel{
			title:       "Gap between stream chunks",
			description: "Streaming: time between consecutive chunks sent to the client.",
			unit:        "s",
			queries:     quantileQueries("http_stream_inter_chunk_seconds", route, "route"),
		}).Span(12)).
		WithRow(dashboard.NewRowBuilder("Gateway")).
		WithPanel(timeseriesPanel(panel{
			title:       "Gateway overhead by route",
			description: "Request duration minus the time spent waiting on upstream: what the gateway itself adds.",
			unit:        "s",
			queries:     quantileQueries("gateway_overhead_seconds", route, "route"),
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Timeouts (504) by route",
			description: "Requests ended by the per-route deadline (a 504, or a timeout event on a stream), and 504 responses.",
			unit:        "reqps",
			queries: targets{
				query(sumBy(rate("http_request_timeouts_total", byRoute), "route"), "deadline {{route}}"),
				query(sumBy(rate("http_requests_total", byRoute, `code="504"`), "route"), "504 {{route}}"),
			},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Load shed by route",
			description: "Requests refused because a gateway budget was full: max_in_flight for unary calls, max_streams for open streams.",
			unit:        "reqps",
			queries:     targets{query(sumBy(rate("load_shed_total", byRoute), "route"), "{{route}}")},
		})).
		WithRow(dashboard.NewRowBuilder("Upstream and resilience")).
		WithPanel(timeseriesPanel(panel{
			title:       "Upstream attempt duration p95",
			description: "One upstream attempt, until response headers (non-streaming: the whole body), by provider and model.",
			unit:        "s",
			queries: targets{query(
				quantile(0.95, "upstream_request_duration_seconds", []string{byJob}, "provider", "model"),
				"{{provider}} {{model}}")},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Retries",
			description: "Upstream attempts after the first for the same model, and retries skipped because the retry budget was spent.",
			unit:        "ops",
			queries: targets{
				query(sumBy(rate("upstream_retries_total", byJob), "provider", "model"), "retry {{provider}} {{model}}"),
				query(sumBy(rate("upstream_retry_budget_exhausted_total", byJob), "provider", "model"), "budget exhausted {{provider}} {{model}}"),
			},
		})).
		WithPanel(timeseriesPanel(panel{
			title:       "Fallbacks",
			description: "Requests served (or attempted) by a fallback model, by requested model and fallback.",
			unit:        "reqps",
			queries:     targets{query(sumBy(rate("upstream_fallbacks_total", byJob), "model", "fallback"), "{{model}} → {{fallback}}")},
		})).
		WithPanel(statPanel(panel{
			title:       "Circuit breaker state",
			description: "Per model and deployment, now: closed (traffic flows), half-open (probing), open (failing fast, skipped by the balancer).",
			unit:        "none",
			queries:     targets{query(`max by (model, deployment) (`+sel("circuit_breaker_state", byJob)+`)`, "{{model}} {{deployment}}")},
		}).
			Span(12).
			GraphMode(common.BigValueGraphModeNone).
			Mappings([]dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{
				Type: dashboard.MappingTypeValueToText,
				Options: map[string]dashboard.ValueMappingResult{
					"0": {Text: cog.ToPtr("closed"), Color: cog.ToPtr("green")},
					"1": {Text: cog.ToPtr("half-open"), Color: cog.ToPtr("yellow")},
					"2": {Text: cog.ToPtr("open"), Color: cog.ToPtr("red")},
				},
			}}})).
		WithPanel(timeseriesPanel(panel{
			title:       "Circuit breaker transitions",
			description: "State changes per second, by model, deployment and new state.",
			unit:        "ops",
			queries:     targets{query(sumBy(rate("circuit_breaker_transitions_total", byJob), "model", "deployment", "to"), "{{model}} {{deployment}} → {{to}}")},
		}).Span(12))
	b = balanceRow(b)
	return b, "overview.json", nil
}
