Feature: Streaming chat
  As an application developer
  I want the answer to arrive piece by piece as server-sent events
  So that my users see text appear while the model is still writing

  Background:
    Given the service is running

  @smoke
  Scenario: A streamed answer arrives in chunks and ends with [DONE]
    When I stream the chat message "Tell me about streams"
    Then the response status is 200
    And the response header "Content-Type" starts with "text/event-stream"
    And I receive at least 2 content chunks
    And every chunk is a "chat.completion.chunk" for the model "gpt-4o-mini"
    And the streamed text is not empty
    And the last chunk before [DONE] reports token usage with a cost
    And the stream ends with [DONE]

  Scenario: The upstream's pace is relayed, not buffered
    Given the upstream streams its answer in 4 chunks 60ms apart
    When I stream the chat message "Hello"
    Then I receive 4 content chunks
    And the stream ends with [DONE]
    And the stream took at least 180ms

  Scenario Outline: The OpenAI route sends usage only when asked for it
    When I stream the chat message "Hello" on /v1/chat/completions <option>
    Then the response status is 200
    And the stream ends with [DONE]
    And the stream <presence> a usage chunk

    Examples:
      | option                   | presence         |
      | asking for usage         | includes         |
      | without asking for usage | does not include |

  Scenario: When the upstream reports no usage, the gateway estimates it
    Given the upstream reports no token usage
    When I stream the chat message "Count my tokens anyway"
    Then the stream ends with [DONE]
    And the usage is marked as estimated
    And the metric cost_estimated_usage_total{model="gpt-4o-mini"} increased by 1

  Scenario: A stream cut by the upstream ends with an error event, never with [DONE]
    Given the upstream cuts the stream after 2 chunks
    When I stream the chat message "Hello"
    Then the response status is 200
    And I receive 2 content chunks
    And the stream ends with an error event of type "upstream_error"

  Scenario: A client that leaves mid-stream cancels the upstream call
    Given the upstream streams its answer in 8 chunks 200ms apart
    When I start streaming the chat message "A long answer please"
    And I read 1 content chunk
    And I disconnect
    Then the simulator saw the request cancelled

  Scenario: A bad streaming request gets a plain JSON error, not a stream
    When I stream the chat message "Hello" to the model "gpt-9"
    Then the response status is 404
    And the error type is "not_found_error"
    And the error code is "model_not_found"
