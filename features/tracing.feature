Feature: Trace propagation
  As an engineer debugging a slow answer
  I want the gateway to continue my trace to the model provider
  So that one trace shows my application, the gateway and the upstream call together

  Traces use the W3C traceparent header: version-traceid-parentspanid-flags.

  Background:
    Given the service is running

  @smoke @local
  Scenario Outline: The caller's trace continues to the upstream through a gateway span
    Given my requests carry the traceparent "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    When I <request>
    Then the response status is 200
    And the upstream received the trace id "4bf92f3577b34da6a3ce929d0e0e4736"
    And the upstream's parent span is not "00f067aa0ba902b7"
    And the upstream's trace is sampled

    Examples:
      | request                                               |
      | send the chat message "Hello"                         |
      | send the chat message "Hello" to /v1/chat/completions |
      | stream the chat message "Hello"                       |
      | ask for an image of "a traced kite"                   |
      | ask the agent "calculator" "What is 6 * 7?"           |

  Scenario: A request without a trace starts a new one
    When I send the chat message "Hello"
    Then the upstream received a new trace id, not "00000000000000000000000000000000"

  Scenario: A caller's decision not to sample is respected
    Given my requests carry the traceparent "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    When I send the chat message "Hello"
    Then the upstream received the trace id "0af7651916cd43dd8448eb211c80319c"
    And the upstream's trace is not sampled

  Scenario: A malformed traceparent is ignored and a new trace starts
    Given my requests carry the traceparent "00-not-a-trace-01"
    When I send the chat message "Hello"
    Then the response status is 200
    And the upstream received a new trace id, not "00000000000000000000000000000000"
