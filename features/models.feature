Feature: Model catalogue
  As an application developer
  I want to list the models the gateway offers
  So that my application only asks for models that exist

  @smoke @contract
  Scenario: The configured models are listed in OpenAI's format
    Given the service is running
    When I list the models
    Then the response status is 200
    And the models are:
      | id                     | owned by |
      | gpt-4o-mini            | sim      |
      | gpt-4o                 | sim      |
      | gpt-image-1            | sim      |
      | text-embedding-3-small | sim      |
      | text-embedding-3-large | sim      |

  Scenario: Models routed to an external upstream name that provider
    Given the service is running with a separate simulator
    When I list the models
    Then the response status is 200
    And every model is owned by "upstream"

  Scenario: An unknown model is refused without calling the upstream
    Given the service is running
    When I send the chat message "Hello" to the model "gpt-9"
    Then the response status is 404
    And the error type is "not_found_error"
    And the error code is "model_not_found"
    And the error parameter is "model"
    And the upstream received no requests

  Scenario: The image model cannot chat
    Given the service is running
    When I send the chat message "Hello" to the model "gpt-image-1"
    Then the response status is 400
    And the error code is "model_not_supported"
