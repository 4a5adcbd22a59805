Feature: Agents
  As an application developer
  I want to run configured agents that use tools
  So that questions needing a calculation or the time are answered correctly

  Background:
    Given the service is running

  @smoke
  Scenario: The configured agents are listed
    When I list the agents
    Then the response status is 200
    And the agents are:
      | id         | model       | tools             |
      | calculator | gpt-4o-mini | calculator        |
      | assistant  | gpt-4o-mini | calculator, clock |

  Scenario: One agent is described
    When I look up the agent "calculator"
    Then the response status is 200
    And the agent "calculator" uses the model "gpt-4o-mini" with at most 5 steps

  Scenario Outline: The calculator agent does arithmetic with its tool
    When I ask the agent "calculator" "<question>"
    Then the response status is 200
    And the run is "completed"
    And the run used the tool "calculator" with the result "<result>"
    And the agent's answer contains "<result>"
    And the upstream received 2 chat requests

    Examples:
      | question                 | result |
      | What is 12 * (3 + 4)?    | 84     |
      | How much is 2 ^ 10 - 24? | 1000   |
      | What is 7 / 2?           | 3.5    |

  Scenario: The assistant tells the time with its clock
    When I ask the agent "assistant" "What time is it now?"
    Then the response status is 200
    And the run is "completed"
    And the run used the tool "clock"
    And the tool result is the current time

  Scenario: A question needing no tool is answered directly
    When I ask the agent "assistant" "Say something kind"
    Then the response status is 200
    And the run is "completed"
    And the run made no tool calls
    And the upstream received 1 chat request

  Scenario: An unknown agent is not found
    When I ask the agent "astrologer" "Will it rain?"
    Then the response status is 404
    And the error type is "not_found_error"
    And the error code is "agent_not_found"
    And the upstream received no requests

  Scenario: Looking up an unknown agent is not found either
    When I look up the agent "astrologer"
    Then the response status is 404
    And the error code is "agent_not_found"
