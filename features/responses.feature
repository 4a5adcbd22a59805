@responses
Feature: Responses API
  As an application developer using OpenAI's newer Responses API (or a framework built on it)
  I want to create, stream, continue, read back and delete responses through the gateway
  So that clients that no longer call chat completions work by changing only their base URL

  Background:
    Given the service is running

  @smoke
  Scenario: A text input gets a completed response with its text and its cost
    When I create a response to "Hello there" with the instructions "Be brief."
    Then the response status is 200
    And the response is a "response"
    And the response status reads completed
    And the response has output text
    And the response reports input and output tokens and a cost
    And the X-Cost-USD header equals the response's cost

  Scenario: A conversation is continued, read back and deleted
    When I create a response to "My name is Sam."
    And I continue the conversation with "What is my name?"
    Then the response status is 200
    And the response continues the first one
    When I read back the first response
    Then the response status is 200
    And the response has output text
    When I list the input items of the first response
    Then the response status is 200
    And the list has 1 item with the role "user"
    When I delete the first response
    Then the response status is 200
    When I read back the first response
    Then the response status is 404
    And the error type is "not_found_error"
    And the error code is "response_not_found"

  Scenario: A streamed response arrives as numbered typed events
    When I stream a response to "Tell me a story"
    Then the response status is 200
    And the events arrive in the order created, in progress, item added, part added, text deltas, text done, part done, item done, completed
    And the events are numbered from 0 without gaps
    And the streamed deltas make up the completed response's text

  Scenario: A function tool the model is told to use is called with arguments that fit it
    When I create a response to "What is the weather in Paris?" that must call the function "get_weather" with a string parameter "city"
    Then the response status is 200
    And the output is a call of "get_weather" whose arguments have "city"

  Scenario: An unknown previous response is a 404, not a guess
    When I send the responses request {"input": "x", "previous_response_id": "resp_unknown"}
    Then the response status is 404
    And the error type is "not_found_error"
    And the error parameter is "previous_response_id"

  Scenario Outline: Bad input is refused before any upstream is asked
    When I send the responses request <body>
    Then the response status is 400
    And the error type is "invalid_request_error"
    And the error parameter is "<param>"
    And the upstream received no requests

    Examples:
      | body                                                                         | param             |
      | {"model": "gpt-4o-mini"}                                                     | input             |
      | {"input": [{"role": "robot", "content": "hi"}]}                              | input[0].role     |
      | {"input": "x", "temperature": 3}                                             | temperature       |
      | {"input": "x", "max_output_tokens": 1}                                       | max_output_tokens |
      | {"input": "x", "text": {"format": {"type": "yaml"}}}                         | text.format.type  |
      | {"input": "x", "tool_choice": {"type": "function", "name": "nowhere"}}       | tool_choice       |
      | {"input": "x", "tools": [{"type": "web_search_preview"}]}                    | tools[0].type     |
