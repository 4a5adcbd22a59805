@local @keys
Feature: Virtual keys, rate limits and budgets
  As the owner of the gateway
  I want each client's key to carry its own models, limits and budget
  So that no client spends more than it was given, however many replicas serve it

  Scenario: A key may use only its models, and a refusal never reaches the upstream
    Given the service has the virtual key "sk-team-a" named "team-a" with:
      | team   | a             |
      | models | [gpt-4o-mini] |
    And my requests carry the API key "sk-team-a"
    When I send the chat message "Hello" to the model "gpt-4o"
    Then the response status is 403
    And the error type is "permission_error"
    And the error code is "model_not_allowed"
    And the upstream received no requests
    When I send the chat message "Hello" to the model "gpt-4o-mini"
    Then the response status is 200

  Scenario: A revoked key is refused like an unknown one
    Given the service has the virtual key "sk-old" named "old" with:
      | revoked | true |
    And my requests carry the API key "sk-old"
    When I send the chat message "Hello"
    Then the response status is 401
    And the error code is "invalid_api_key"

  Scenario: A key over its requests per minute is told when to come back
    Given the service has the virtual key "sk-ci" named "ci" with:
      | rpm | 2      |
      | tpm | 100000 |
    And my requests carry the API key "sk-ci"
    When I send 3 chat messages
    Then the responses have the statuses 200, 200 and 429
    And the error type is "rate_limit_error"
    And the error code is "rate_limit_exceeded"
    And the response asks to retry after 30 seconds at most
    And the response header "x-ratelimit-limit-requests" is "2"
    And the response header "x-ratelimit-remaining-requests" is "0"
    And the response header "x-ratelimit-limit-tokens" is "100000"

  Scenario: A spent budget is a 429 budget_exceeded until it resets
    Given the service has the virtual key "sk-poor" named "poor" with:
      | daily_usd | 0.000001 |
    And my requests carry the API key "sk-poor"
    When I send the chat message "Hello"
    Then the response status is 429
    And the error code is "budget_exceeded"
    And the error message mentions "00:00 UTC"
    And the upstream received no requests

  Scenario: A stream that crosses its budget is cut with an error event
    Given the service is running with:
      | prices.gpt-4o-mini       | {input_per_1m: 0, output_per_1m: 1000000} |
      | limits.max_output_tokens | 1                                         |
      | simulator.chunks         | 16                                        |
    And the service has the virtual key "sk-stream" named "streamer" with:
      | daily_usd | 3 |
    And my requests carry the API key "sk-stream"
    When I stream the chat message "Tell me a long story"
    Then the stream ends with an error event of type "rate_limit_error" and code "budget_exceeded"

  Scenario: A repeated request is served from the cache at no cost
    Given the service has the virtual key "sk-cached" named "cached" with:
      | cache | key |
    And my requests carry the API key "sk-cached"
    When I send the chat message "What is a cache?"
    Then the response header "X-Cache" is "MISS"
    When I send the chat message "What is a cache?"
    Then the response status is 200
    And the response header "X-Cache" is "HIT"
    And the response header "X-Cost-USD" is "0"
    And the upstream received 1 chat request

  Scenario Outline: Every surface serves a repeated answer from the cache at no cost
    Given the service has the virtual key "sk-cached" named "cached" with:
      | cache | key |
    And my requests carry the API key "sk-cached"
    When I <ask>
    Then the response header "X-Cache" is "MISS"
    When I <ask>
    Then the response status is 200
    And the response header "X-Cache" is "HIT"
    And the response header "X-Cost-USD" is "0"
    And the upstream received 1 <kind> request

    Examples:
      | ask                                                                                | kind   |
      | stream the chat message "What is a cached stream?"                                 | stream |
      | create a response to "What is a cached response?"                                  | chat   |
      | stream a response to "What is a cached response stream?"                           | stream |
      | send the message "What is a cached message?" to the model "gpt-4o-mini"            | chat   |
      | stream the message "What is a cached message stream?" from the model "gpt-4o-mini" | stream |
