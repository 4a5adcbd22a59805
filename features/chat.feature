@smoke
Feature: Chat completions
  As an application developer
  I want to send a conversation to a model through the gateway
  So that my application gets an answer in OpenAI's format without talking to providers itself

  Background:
    Given the service is running

  Scenario: A question gets an answer
    When I send the chat message "What does a gateway do?"
    Then the response status is 200
    And the response is a "chat.completion"
    And the answer is not empty
    And the finish reason is "stop"
    And the response reports token usage
    And the response carries a request id

  @local
  Scenario: Without a model, the default model answers
    When I send the chat message "Hello"
    Then the response model is "gpt-4o-mini"
    And the upstream was last asked for the model "gpt-4o-mini"

  @local
  Scenario: A named model answers under its own name
    When I send the chat message "Hello" to the model "gpt-4o"
    Then the response status is 200
    And the response model is "gpt-4o"
    And the upstream was last asked for the model "gpt-4o"

  Scenario Outline: Both chat routes answer in the same format
    When I send the chat message "Hello" to <route>
    Then the response status is 200
    And the response is a "chat.completion"
    And the answer is not empty

    Examples:
      | route                |
      | /v1/chat             |
      | /v1/chat/completions |

  @local
  Scenario: A whole conversation is sent in one request
    When I send the conversation:
      | role      | content                 |
      | system    | You answer in one word. |
      | user      | Name a colour.          |
      | assistant | Blue.                   |
      | user      | Another one?            |
    Then the response status is 200
    And the answer is not empty
    And the upstream received 1 chat request

  @local
  Scenario: The same question gets the same answer from the simulator
    When I send the chat message "Is this deterministic?"
    And I send the chat message "Is this deterministic?"
    Then the answer is the same as before

  Scenario: A token limit cuts the answer short
    When I send the chat message "Tell me a long story" with a limit of 5 tokens
    Then the response status is 200
    And the finish reason is "length"
    And the response reports at most 5 completion tokens

  Scenario: The caller's request id is kept
    Given my requests carry the request id "qa-chat-0001"
    When I send the chat message "Hello"
    Then the response header "X-Request-Id" is "qa-chat-0001"

  @local
  Scenario: Asking the plain chat route to stream is refused
    When I send the chat message "Hello" asking for a stream
    Then the response status is 400
    And the error type is "invalid_request_error"
    And the error parameter is "stream"
    And the error message mentions "/v1/chat/stream"
    And the upstream received no requests
