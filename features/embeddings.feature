@embeddings
Feature: Embeddings
  As an application developer building search or retrieval
  I want to turn texts into vectors through the same gateway
  So that one key, one bill and one dashboard cover chat, images and embeddings

  Background:
    Given the service is running

  @smoke
  Scenario: A text becomes one unit vector of the model's size, priced per input token
    When I embed "The food was delicious." with the model "text-embedding-3-small"
    Then the response status is 200
    And the response model is "text-embedding-3-small"
    And I receive 1 embedding of 1536 dimensions
    And every embedding has unit length
    And the cost is $0.02 per million input tokens and $0 per million output tokens
    And the X-Cost-USD header equals the usage cost

  Scenario Outline: Encodings and vector sizes
    When I embed the texts "red apple", "green pear" with the model "<model>" as <encoding> in <dimensions> dimensions
    Then the response status is 200
    And I receive 2 embeddings of <dimensions> dimensions
    And every embedding has unit length

    Examples:
      | model                  | encoding | dimensions |
      | text-embedding-3-small | float    | 1536       |
      | text-embedding-3-small | base64   | 256        |
      | text-embedding-3-large | base64   | 3072       |

  Scenario: The same text always gets the same vector
    When I embed the texts "a quiet harbour", "a busy market", "a quiet harbour" with the model "text-embedding-3-small" as float in 64 dimensions
    Then the response status is 200
    And embeddings 1 and 3 are equal
    And embeddings 1 and 2 differ

  Scenario Outline: Bad input is refused before any upstream is asked
    When I send the embeddings request <body>
    Then the response status is 400
    And the error type is "invalid_request_error"
    And the error parameter is "<param>"
    And the upstream received no requests

    Examples:
      | body                                                                  | param           |
      | {"input": "hello"}                                                    | model           |
      | {"model": "text-embedding-3-small"}                                   | input           |
      | {"model": "text-embedding-3-small", "input": []}                      | input           |
      | {"model": "text-embedding-3-small", "input": ["a", [1, 2]]}           | input           |
      | {"model": "text-embedding-3-small", "input": "a", "dimensions": 0}    | dimensions      |
      | {"model": "text-embedding-3-small", "input": "a", "encoding_format": "hex"} | encoding_format |

  Scenario: A batch of more than 2048 texts is refused
    When I embed 2049 texts with the model "text-embedding-3-small"
    Then the response status is 400
    And the error parameter is "input"
    And the error message mentions "2048"
    And the upstream received no requests

  Scenario: A chat model cannot embed
    When I embed "hello" with the model "gpt-4o-mini"
    Then the response status is 400
    And the error code is "model_not_supported"
    And the error parameter is "model"
    And the upstream received no requests
