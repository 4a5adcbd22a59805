@chaos @local
Feature: Circuit breaking and load shedding
  As the operator of the gateway
  I want a failing upstream to be left alone for a while, and excess load to be refused early
  So that the gateway fails fast instead of piling up work an upstream cannot do

  The service under test opens a circuit after 3 consecutive failures and probes again after
  500 ms (the shipped values are 5 failures and 10 s), and does not retry.

  Background:
    Given the service is running with:
      | resilience.breaker_failures | 3     |
      | resilience.breaker_cooldown | 500ms |
      | resilience.max_retries      | 0     |

  @smoke
  Scenario: A failing upstream is cut off after repeated failures
    Given the upstream fails every request with status 503
    When I send 3 chat messages
    Then all 3 responses have status 503
    And the circuit for "gpt-4o-mini" is open
    When I send the chat message "Hello"
    Then the response status is 503
    And the error type is "service_unavailable"
    And the error code is "circuit_open"
    And the response asks to retry after 1 second at most
    And the upstream received 3 chat requests

  Scenario: The circuit closes again once the upstream recovers
    Given the upstream fails every request with status 503
    And I send 3 chat messages
    When the upstream recovers
    Then within 3s a chat message succeeds
    And the circuit for "gpt-4o-mini" is closed
    And the metric circuit_breaker_transitions_total{model="gpt-4o-mini",to="half_open"} increased by 1
    And the metric circuit_breaker_transitions_total{model="gpt-4o-mini",to="closed"} increased by 1

  Scenario: A failed probe opens the circuit again
    Given the upstream fails every request with status 503
    And I send 3 chat messages
    When I keep sending chat messages until the upstream has received 4 chat requests
    Then the circuit for "gpt-4o-mini" is open
    And the metric circuit_breaker_transitions_total{model="gpt-4o-mini",to="open"} increased by 2

  Scenario: An open circuit sends traffic straight to the fallback model
    Given the upstream fails every request for the model "gpt-4o" with status 503
    When I send 3 chat messages to the model "gpt-4o"
    Then all 3 responses have status 200
    And the circuit for "gpt-4o" is open
    And the circuit for "gpt-4o-mini" is closed
    When I send the chat message "Hello" to the model "gpt-4o"
    Then the response status is 200
    And the response model is "gpt-4o-mini"
    And the upstream received 7 chat requests

  Scenario: Mistakes in requests do not open the circuit
    Given the upstream fails the next 5 requests with status 400
    When I send 5 chat messages
    Then all 5 responses have status 400
    And the circuit for "gpt-4o-mini" is closed

  Scenario: Requests over the in-flight limit are shed with a 429
    Given the service is running with:
      | resilience.max_in_flight | 1 |
    And the upstream takes 1s to answer
    When I send 2 chat messages at the same time
    Then the responses have the statuses 200 and 429
    And one of the responses has status 429 and the error code "overloaded"
    And the metric load_shed_total{route="/v1/chat"} increased by 1
