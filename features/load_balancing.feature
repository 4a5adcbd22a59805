@local @balance
Feature: Load balancing across deployments
  As the operator of a model that runs on several upstream deployments
  I want the gateway to share the requests between them and steer around slow, failing or
  rate-limited ones
  So that clients see one model that keeps answering, whatever happens to one copy of it

  Each scenario runs its own gateway in front of three simulators, the deployments 1, 2 and 3
  of the model "gpt-4o-mini".

  Scenario: Weighted deployments share the traffic by their weights
    Given the model "gpt-4o-mini" runs on 3 deployments shared by weight 5, 3 and 2
    When I send 200 chat messages
    Then all 200 responses have status 200
    And the deployments served 100, 60 and 40 of them

  Scenario: The fastest deployment gets most of the traffic
    Given the model "gpt-4o-mini" runs on 3 deployments balanced by latency
    And deployment 2 takes 40ms to answer
    And deployment 3 takes 80ms to answer
    When I send 90 chat messages
    Then all 90 responses have status 200
    And deployment 1 served more than half of them

  Scenario: A failing deployment is taken out, and its requests are retried on the others
    Given the service is running with:
      | resilience.breaker_failures | 3     |
      | resilience.breaker_cooldown | 2s    |
    And the model "gpt-4o-mini" runs on 3 deployments shared by weight 1, 1 and 1
    And deployment 2 fails every request with status 500
    When I send 30 chat messages
    Then all 30 responses have status 200
    And deployment 2 received 3 requests
    And the circuit of deployment 2 is open
    When deployment 2 recovers
    Then within 5s deployment 2 serves again
    And the circuit of deployment 2 is closed

  Scenario: A deployment that rate-limits is rested for as long as it asks
    Given the model "gpt-4o-mini" runs on 3 deployments balanced by latency
    And deployment 1 rate-limits every request, asking to retry after 30s
    When I send 30 chat messages
    Then all 30 responses have status 200
    And deployment 1 received 1 request
    And the metric deployment_cooldowns_total{deployment="d1"} is 1

  Scenario: A model keeps a single provider in the short form
    Given the service is running
    When I send the chat message "Hello"
    Then the response status is 200
    And the metric deployment_requests_total{model="gpt-4o-mini",outcome="success"} increased by 1
