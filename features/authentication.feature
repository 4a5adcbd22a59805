@local
Feature: Authentication with API keys
  As the owner of the gateway
  I want every API call to carry one of our keys
  So that only our applications spend our model budget

  Background:
    Given the service is running with the API keys "team-a-key" and "team-b-key"

  @smoke
  Scenario Outline: Only a configured key opens the API
    Given my requests carry the Authorization header "<authorization>"
    When I list the models
    Then the response status is <status>

    Examples:
      | authorization          | status |
      | Bearer team-a-key      | 200    |
      | Bearer team-b-key      | 200    |
      | bearer team-a-key      | 200    |
      | Bearer wrong-key       | 401    |
      | Bearer team-a-keyX     | 401    |
      | Basic dGVhbS1hLWtleQ== | 401    |
      | team-a-key             | 401    |
      | Bearer                 | 401    |

  Scenario: A request without a key is told how to authenticate
    When I list the models without an API key
    Then the response status is 401
    And the error type is "authentication_error"
    And the error code is "invalid_api_key"
    And the response header "WWW-Authenticate" starts with "Bearer"

  Scenario Outline: Every API route is protected, and a refused call never reaches the upstream
    When I call <method> <route> without an API key
    Then the response status is 401
    And the error type is "authentication_error"
    And the upstream received no requests

    Examples:
      | method | route                      |
      | POST   | /v1/chat                   |
      | POST   | /v1/chat/stream            |
      | POST   | /v1/chat/completions       |
      | POST   | /v1/images                 |
      | POST   | /v1/images/generations     |
      | GET    | /v1/agents                 |
      | GET    | /v1/agents/calculator      |
      | POST   | /v1/agents/calculator/runs |
      | GET    | /v1/models                 |

  Scenario Outline: Probes, metrics and the API description need no key
    When I call GET <path> without an API key
    Then the response status is 200

    Examples:
      | path          |
      | /healthz      |
      | /readyz       |
      | /metrics      |
      | /openapi.json |

  Scenario: A valid key works for real work, not only for listing
    Given my requests carry the API key "team-b-key"
    When I send the chat message "Hello"
    Then the response status is 200
    And the upstream received 1 chat request
