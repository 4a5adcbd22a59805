Feature: Request deadlines
  As an operator
  I want every route to have a deadline
  So that a slow upstream costs a user a clear 504, not a hung connection

  @contract @smoke @local
  Scenario Outline: The shipped per-route deadlines
    When I read the effective configuration
    Then the deadline for "<route group>" requests is <deadline>

    Examples: route deadlines
      | route group | deadline |
      | chat        | 60s      |
      | stream      | 300s     |
      | images      | 120s     |
      | agents      | 5s       |
      | healthz     | 5s       |
      | default     | 300s     |

    Examples: limits inside a stream
      | route group        | deadline |
      | stream_first_token | 30s      |
      | stream_idle        | 30s      |

  Scenario Outline: A slow upstream is cut off at the route's deadline with a 504
    Given the service is running with a 300ms deadline for "<route group>" requests
    And the upstream takes 3s to answer
    When I <request>
    Then the response status is 504
    And the error type is "timeout"
    And the answer came after about 300ms
    And the metric http_request_timeouts_total{route="<route>"} increased by 1
    And the simulator saw the request cancelled

    Examples:
      | route group | request                                               | route                |
      | chat        | send the chat message "Hello"                         | /v1/chat             |
      | chat        | send the chat message "Hello" to /v1/chat/completions | /v1/chat/completions |
      | stream      | stream the chat message "Hello"                       | /v1/chat/stream      |
      | images      | ask for an image of "a slow boat"                     | /v1/images           |
      | agents      | ask the agent "calculator" "What is 2 + 2?"           | /v1/agents/:id/runs  |

  Scenario: An upstream within the deadline is not cut off
    Given the service is running with a 2s deadline for "chat" requests
    And the upstream takes 100ms to answer
    When I send the chat message "Hello"
    Then the response status is 200
    And the metric http_request_timeouts_total{route="/v1/chat"} increased by 0

  Scenario: A stream whose first token is late is refused with a 504 before it starts
    Given the service is running with:
      | timeouts.stream_first_token | 300ms |
    And the upstream takes 3s before the first token
    When I stream the chat message "Hello"
    Then the response status is 504
    And the error type is "timeout"
    And the error code is "first_token_timeout"
    And the answer came after about 300ms
    And the simulator saw the request cancelled

  Scenario: A stream that goes quiet ends with a timeout event
    Given the service is running with:
      | timeouts.stream_idle | 300ms |
    And the upstream streams its answer in 4 chunks 3s apart
    When I stream the chat message "Hello"
    Then I receive 1 content chunk
    And the stream ends with an error event of type "timeout" and code "stream_idle_timeout"
    And the stream ended after about 300ms
    And the metric http_request_timeouts_total{route="/v1/chat/stream"} increased by 1

  Scenario: A stream that outlives the route deadline is ended with a timeout event
    Given the service is running with a 600ms deadline for "stream" requests
    And the upstream streams its answer in 8 chunks 200ms apart
    When I stream the chat message "Hello"
    Then I receive at least 2 content chunks
    And the stream ends with an error event of type "timeout"
    And the stream ended after about 600ms
