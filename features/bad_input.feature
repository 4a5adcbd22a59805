@contract
Feature: Bad input is refused clearly
  As an application developer
  I want a malformed or invalid request to be refused with a precise error
  So that I can fix my call without reading the gateway's code

  Every refusal uses OpenAI's error format: an error object with a type, a message, and where it
  applies the offending parameter. The request names below (e.g. "malformed JSON") are defined
  in harness/bdd/samples_test.go.

  Background:
    Given the service is running

  Scenario Outline: Bodies that are not valid JSON or have wrong types are refused
    When I post <request> to <route>
    Then the response status is 400
    And the error type is "invalid_request_error"
    And the error parameter is "<parameter>"
    And the error message is not empty
    And the upstream received no requests

    Examples: not JSON, or not one JSON object
      | request          | route      | parameter |
      | malformed JSON   | /v1/chat   | none      |
      | truncated JSON   | /v1/chat   | none      |
      | an empty body    | /v1/chat   | none      |
      | a JSON array     | /v1/chat   | none      |
      | a JSON string    | /v1/images | none      |
      | two JSON objects | /v1/chat   | none      |

    Examples: wrong types
      | request                  | route                      | parameter   |
      | messages as a string     | /v1/chat                   | messages    |
      | messages as an object    | /v1/chat/stream            | messages    |
      | temperature as text      | /v1/chat                   | temperature |
      | max_tokens as a fraction | /v1/chat/completions       | max_tokens  |
      | stream as a string       | /v1/chat/completions       | stream      |
      | a prompt as a number     | /v1/images                 | prompt      |
      | n as text                | /v1/images                 | n           |
      | input as a number        | /v1/agents/calculator/runs | input       |

  Scenario Outline: Requests with missing or out-of-range values are refused
    When I post <request> to <route>
    Then the response status is 400
    And the error type is "invalid_request_error"
    And the error parameter is "<parameter>"
    And the upstream received no requests

    Examples: chat
      | request                            | route           | parameter                |
      | a chat request without messages    | /v1/chat        | messages                 |
      | a chat request with null messages  | /v1/chat        | messages                 |
      | a chat request with empty messages | /v1/chat        | messages                 |
      | a chat request with empty messages | /v1/chat/stream | messages                 |
      | a message with the role wizard     | /v1/chat        | messages[0].role         |
      | a message without a role           | /v1/chat        | messages[0].role         |
      | a message without content          | /v1/chat        | messages[0].content      |
      | a tool message without its call id | /v1/chat        | messages[0].tool_call_id |
      | a temperature of 3                 | /v1/chat        | temperature              |
      | a top_p of 1.5                     | /v1/chat        | top_p                    |
      | max_tokens of 0                    | /v1/chat        | max_tokens               |
      | n of 129 on chat                   | /v1/chat        | n                        |
      | five stop sequences                | /v1/chat        | stop                     |
      | a chat for the image model         | /v1/chat        | model                    |

    Examples: images
      | request                              | route      | parameter       |
      | an image request without a prompt    | /v1/images | prompt          |
      | an image request with a blank prompt | /v1/images | prompt          |
      | an image request for 0 images        | /v1/images | n               |
      | an image request for 11 images       | /v1/images | n               |
      | an image request of size 100x100     | /v1/images | size            |
      | an image request of quality ultra    | /v1/images | quality         |
      | an image request for the format gif  | /v1/images | response_format |
      | an image request for a chat model    | /v1/images | model           |

    Examples: agents
      | request                       | route                      | parameter |
      | an agent run without input    | /v1/agents/calculator/runs | input     |
      | an agent run with blank input | /v1/agents/assistant/runs  | input     |

  Scenario Outline: An unknown model is not found
    When I post <request> to <route>
    Then the response status is 404
    And the error type is "not_found_error"
    And the error code is "model_not_found"
    And the error parameter is "model"
    And the upstream received no requests

    Examples:
      | request                              | route                |
      | a chat for the model gpt-9           | /v1/chat             |
      | a chat for the model gpt-9           | /v1/chat/completions |
      | an image request for the model gpt-9 | /v1/images           |

  Scenario Outline: Wrong route, method, media type or size
    When I call <method> <route> with <request> as "<content type>"
    Then the response status is <status>
    And the error type is "<type>"
    And the error code is "<code>"
    And the upstream received no requests

    Examples:
      | method | route                      | request                      | content type                      | status | type                  | code                   |
      | GET    | /v1/does-not-exist         | no body                      |                                   | 404    | not_found_error       | unknown_route          |
      | POST   | /v2/chat                   | a valid chat request         | application/json                  | 404    | not_found_error       | unknown_route          |
      | GET    | /v1/chat                   | no body                      |                                   | 405    | invalid_request_error | method_not_allowed     |
      | DELETE | /v1/models                 | no body                      |                                   | 405    | invalid_request_error | method_not_allowed     |
      | PUT    | /v1/agents/calculator/runs | a valid agent run            | application/json                  | 405    | invalid_request_error | method_not_allowed     |
      | POST   | /v1/chat                   | a valid chat request         | text/plain                        | 415    | invalid_request_error | unsupported_media_type |
      | POST   | /v1/images                 | a valid image request        | application/x-www-form-urlencoded | 415    | invalid_request_error | unsupported_media_type |
      | POST   | /v1/agents/calculator/runs | a valid agent run            | text/xml                          | 415    | invalid_request_error | unsupported_media_type |
      | POST   | /v1/chat                   | a 2 MB body                  | application/json                  | 413    | invalid_request_error | request_too_large      |
      | POST   | /v1/chat/stream            | a 2 MB body without a length | application/json                  | 413    | invalid_request_error | request_too_large      |

  Scenario: A wrong method is told which method the route takes
    When I call GET /v1/chat
    Then the response status is 405
    And the response header "Allow" contains "POST"
    And the error message mentions "GET"
