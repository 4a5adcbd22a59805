@anthropic @local
Feature: Anthropic's Messages API
  As a developer calling models with Anthropic's SDKs, or a coding agent built on them
  I want the gateway to speak Anthropic's Messages API beside OpenAI's
  So that one gateway serves both kinds of clients, on models of either kind of upstream

  Background:
    Given the service is running with an Anthropic upstream

  Scenario Outline: A message from either kind of upstream, priced
    When I send the message "Hello there" to the model "<model>"
    Then the response status is 200
    And the response field "type" is "message"
    And the response model is "<model>"
    And the message stops for "end_turn"
    And the X-Cost-USD header equals the usage cost

    Examples:
      | model            | upstream                             |
      | claude-haiku-4-5 | speaks Messages: passed through      |
      | gpt-4o-mini      | speaks OpenAI chat: translated       |

  Scenario Outline: A streamed message is Anthropic's event sequence
    When I stream the message "Hello there" from the model "<model>"
    Then the response status is 200
    And the events are message_start, the content blocks, message_delta and message_stop

    Examples:
      | model            |
      | claude-haiku-4-5 |
      | gpt-4o-mini      |

  Scenario Outline: A tool call in either dialect
    When I send the message "What is the weather in Lisbon today?" with the tool "get_weather" to the model "<model>"
    Then the response status is 200
    And the message stops for "tool_use" calling "get_weather"

    Examples:
      | model            |
      | claude-haiku-4-5 |
      | gpt-4o-mini      |

  Scenario: An OpenAI client on a model whose upstream speaks Messages
    When I send the chat message "Hello there" to the model "claude-haiku-4-5"
    Then the response status is 200
    And the response is a "chat.completion"
    And the finish reason is "stop"

  Scenario Outline: Bad input is answered in Anthropic's shape
    When I send the Messages request <body>
    Then the response status is <status>
    And the error is in Anthropic's shape with the type "<type>"

    Examples:
      | body                                                                                                                              | status | type                  |
      | {"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}                                                                | 400    | invalid_request_error |
      | {"model":"gpt-4o-mini","max_tokens":10,"messages":[]}                                                                              | 400    | invalid_request_error |
      | {"model":"no-such-model","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}                                              | 404    | not_found_error       |
      | {"model":"gpt-4o-mini","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hi"}]} | 400    | invalid_request_error |

  Scenario: An overloaded upstream is Anthropic's 529
    Given the upstream fails every request with status 529
    When I send the message "Hello there" to the model "claude-haiku-4-5"
    Then the response status is 529
    And the error is in Anthropic's shape with the type "overloaded_error"
