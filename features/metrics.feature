Feature: Metrics for dashboards and alerts
  As an operator
  I want request, upstream, cost and SLO metrics on the metrics page
  So that dashboards and alerts show what users experience

  The metric names and labels are the contract in docs/metrics.md. A step like
  "the metric NAME{label="value"} increased by N" compares the metrics page before and after the
  scenario, summing every series that has the given labels.

  Background:
    Given the service is running

  @contract
  Scenario: The documented metrics are exposed once traffic has flowed
    When I send the chat message "Hello"
    And I stream the chat message "Hello"
    Then the metrics page exposes:
      | metric                                  | type      |
      | http_requests_total                     | counter   |
      | http_request_duration_seconds           | histogram |
      | http_requests_in_flight                 | gauge     |
      | http_request_timeouts_total             | counter   |
      | http_stream_time_to_first_token_seconds | histogram |
      | http_stream_inter_chunk_seconds         | histogram |
      | gateway_overhead_seconds                | histogram |
      | load_shed_total                         | counter   |
      | upstream_request_duration_seconds       | histogram |
      | upstream_retries_total                  | counter   |
      | upstream_retry_budget_exhausted_total   | counter   |
      | circuit_breaker_state                   | gauge     |
      | deployment_requests_total               | counter   |
      | deployment_latency_ewma_seconds         | gauge     |
      | deployment_in_flight                    | gauge     |
      | deployment_cooldowns_total              | counter   |
      | cost_request_cost_usd                   | histogram |
      | cost_provider_api_calls_total           | counter   |
      | cost_provider_tokens_total              | counter   |
      | process_cpu_seconds_total               | counter   |
      | slo_events_total                        | counter   |
      | slo_objective_ratio                     | gauge     |
      | slo_latency_threshold_seconds           | gauge     |
      | go_goroutines                           | gauge     |
      | process_resident_memory_bytes           | gauge     |

  @smoke @local
  Scenario Outline: Requests are counted by route and status code
    When I send <count> chat messages
    Then the metric http_requests_total{method="POST",route="/v1/chat",code="200"} increased by <count>
    And the metric http_request_duration_seconds_count{route="/v1/chat",code="200"} increased by <count>
    And the metric upstream_request_duration_seconds_count{model="gpt-4o-mini"} increased by <count>
    And the metric cost_provider_api_calls_total{model="gpt-4o-mini",outcome="success"} increased by <count>

    Examples:
      | count |
      | 1     |
      | 3     |

  Scenario: Errors are counted under their status code
    When I post malformed JSON to /v1/chat
    Then the metric http_requests_total{route="/v1/chat",code="400"} increased by 1
    And the metric http_requests_total{route="/v1/chat",code="200"} increased by 0

  Scenario: Unknown paths share one label, so a scanner cannot flood the metrics
    When I call GET /v1/scan-a
    And I call GET /v1/scan-b
    Then the metric http_requests_total{route="unmatched",code="404"} increased by 2
    And no metric series carries the route "/v1/scan-a"

  Scenario: A successful answer is a good availability event; a client error is not counted
    When I send the chat message "Hello"
    And I post a chat request with empty messages to /v1/chat
    Then the metric slo_events_total{slo="availability",route="/v1/chat",result="good"} increased by 1
    And the metric slo_events_total{slo="availability",route="/v1/chat",result="bad"} increased by 0
    And the metric slo_events_total{slo="latency",route="/v1/chat",result="good"} increased by 1

  Scenario: A stream records its time to first token
    When I stream the chat message "Hello"
    Then the stream ends with [DONE]
    And the metric http_stream_time_to_first_token_seconds_count{route="/v1/chat/stream",model="gpt-4o-mini"} increased by 1
    And the metric http_stream_inter_chunk_seconds_count{route="/v1/chat/stream"} increased by at least 1

  @chaos
  Scenario: A failed upstream answer is a bad availability event
    Given the service is running with:
      | resilience.max_retries | 0 |
    And the upstream fails the next 1 request with status 500
    When I send the chat message "Hello"
    Then the response status is 502
    And the metric slo_events_total{slo="availability",route="/v1/chat",result="bad"} increased by 1
    And the metric cost_provider_api_calls_total{model="gpt-4o-mini",outcome="error"} increased by 1

  @chaos
  Scenario: A stream cut after it started is a bad availability event, though its status was 200
    Given the upstream cuts the stream after 2 chunks
    When I stream the chat message "Hello"
    Then the stream ends with an error event of type "upstream_error"
    And the metric http_requests_total{route="/v1/chat/stream",code="200"} increased by 1
    And the metric slo_events_total{slo="availability",route="/v1/chat/stream",result="bad"} increased by 1
    And the metric slo_events_total{slo="availability",route="/v1/chat/stream",result="good"} increased by 0
