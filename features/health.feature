Feature: Health and readiness
  As an operator
  I want liveness, readiness and metrics endpoints
  So that the platform can route traffic and page me only when something is wrong

  Background:
    Given the service is running

  @smoke
  Scenario Outline: The probes answer
    When I call GET <path>
    Then the response status is 200
    And the status reads "<status>"

    Examples:
      | path     | status |
      | /healthz | ok     |
      | /readyz  | ready  |

  Scenario: The metrics page is Prometheus text
    When I call GET /metrics
    Then the response status is 200
    And the response header "Content-Type" starts with "text/plain"

  @contract
  Scenario: The API description is published
    When I call GET /openapi.json
    Then the response status is 200
    And the response is an OpenAPI 3 document describing /v1/chat

  Scenario: Every answer carries a request id, errors too
    When I call GET /v1/not-a-route
    Then the response status is 404
    And the response carries a request id
