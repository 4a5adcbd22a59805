@chaos @local
Feature: Retries and fallback
  As a user of an application built on the gateway
  I want brief upstream failures to be retried and failing models to be replaced
  So that a provider's bad minute does not become my error

  The service under test retries quickly (20 ms backoff) so these scenarios stay fast; the
  shipped backoff is 100 ms to 2 s.

  Background:
    Given the service is running with:
      | resilience.backoff_base | 20ms  |
      | resilience.backoff_max  | 100ms |

  @smoke
  Scenario: A brief upstream outage is hidden from the user
    Given the upstream fails the next 2 requests with status 503
    When I send the chat message "Hello"
    Then the response status is 200
    And the upstream received 3 chat requests
    And the metric upstream_retries_total{model="gpt-4o-mini"} increased by 2
    And the metric cost_provider_api_calls_total{model="gpt-4o-mini",outcome="error"} increased by 2
    And the metric cost_provider_api_calls_total{model="gpt-4o-mini",outcome="success"} increased by 1

  Scenario Outline: Only failures worth retrying are retried
    Given the upstream fails the next 1 request with status <upstream status>
    When I send the chat message "Hello"
    Then the response status is <status>
    And the upstream received <attempts> chat requests

    Examples: the upstream's own failures are retried
      | upstream status | status | attempts |
      | 500             | 200    | 2        |
      | 502             | 200    | 2        |
      | 503             | 200    | 2        |
      | 504             | 200    | 2        |
      | 429             | 200    | 2        |

    Examples: mistakes in the request are not
      | upstream status | status | attempts |
      | 400             | 400    | 1        |
      | 404             | 404    | 1        |
      | 422             | 400    | 1        |

    Examples: the gateway's own credentials problem is the gateway's error
      | upstream status | status | attempts |
      | 401             | 502    | 1        |
      | 403             | 502    | 1        |

  Scenario: A dropped connection is retried
    Given the upstream drops the connection on the next 1 request
    When I send the chat message "Hello"
    Then the response status is 200
    And the upstream received 2 chat requests

  @slow
  Scenario: The upstream's Retry-After is honoured
    Given the upstream fails the next 1 request with status 429 asking to retry after 1s
    When I send the chat message "Hello"
    Then the response status is 200
    And the answer took at least 1s

  Scenario Outline: When every retry fails, the error says why
    Given the upstream fails every request with status <upstream status>
    When I send the chat message "Hello"
    Then the response status is <status>
    And the error type is "<type>"
    And the upstream received 3 chat requests

    Examples:
      | upstream status | status | type                |
      | 503             | 503    | service_unavailable |
      | 500             | 502    | upstream_error      |
      | 429             | 429    | rate_limit_error    |

  Scenario: Retries stop when the retry budget is spent
    Given the service is running with:
      | resilience.retry_budget_min   | 0 |
      | resilience.retry_budget_ratio | 0 |
    And the upstream fails every request with status 503
    When I send the chat message "Hello"
    Then the response status is 503
    And the upstream received 1 chat request
    And the metric upstream_retry_budget_exhausted_total{model="gpt-4o-mini"} increased by 1

  Scenario: Retries never outlive the deadline
    Given the service is running with:
      | timeouts.chat           | 300ms |
      | resilience.backoff_base | 2s    |
      | resilience.backoff_max  | 2s    |
    And the upstream fails every request with status 503
    When I send the chat message "Hello"
    Then the response status is 503
    And the answer came within 250ms
    And the upstream received 1 chat request

  Scenario: A stream that fails before its first byte is retried
    Given the upstream fails the next 1 request with status 503
    When I stream the chat message "Hello"
    Then the response status is 200
    And the stream ends with [DONE]
    And the upstream received 2 stream requests

  @smoke
  Scenario: A failing model is replaced by its fallback
    Given the upstream fails every request for the model "gpt-4o" with status 503
    When I send the chat message "Hello" to the model "gpt-4o"
    Then the response status is 200
    And the response model is "gpt-4o-mini"
    And the upstream was last asked for the model "gpt-4o-mini"
    And the metric upstream_fallbacks_total{model="gpt-4o",fallback="gpt-4o-mini"} increased by 1

  Scenario: A streamed answer falls back too
    Given the upstream fails every request for the model "gpt-4o" with status 503
    When I stream the chat message "Hello" to the model "gpt-4o"
    Then the stream ends with [DONE]
    And every chunk is a "chat.completion.chunk" for the model "gpt-4o-mini"

  Scenario: A mistake in the request is not a reason to fall back
    Given the upstream fails the next 1 request for the model "gpt-4o" with status 400
    When I send the chat message "Hello" to the model "gpt-4o"
    Then the response status is 400
    And the upstream received 1 chat request
    And the metric upstream_fallbacks_total increased by 0
