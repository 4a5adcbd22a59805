@slow @local
Feature: Graceful shutdown
  As an operator rolling out a new version
  I want a stopping instance to finish the work it has started
  So that a deployment never cuts a user's answer in half

  # SIGTERM is what Kubernetes and systemd send; SIGINT is Ctrl-C in a terminal or `docker stop`
  # of a process whose image says STOPSIGNAL SIGINT. Either one, sent first, drains.
  Scenario Outline: An open stream finishes when the service is told to stop by <signal>
    Given the service is running with:
      | shutdown.pre_drain_delay | 400ms |
      | shutdown.grace_period    | 5s    |
    And the upstream streams its answer in 8 chunks 150ms apart
    When I start streaming the chat message "Tell me a story"
    And I read 1 content chunk
    And the service is sent <signal>
    Then readiness turns to 503 "draining"
    And the service still answers health checks
    And new connections are refused
    And the stream ends with [DONE]
    And I received 8 content chunks
    And the service exits with code 0
    And the service logged the shutdown phases readiness, drain, flush, done

    Examples:
      | signal  |
      | SIGTERM |
      | SIGINT  |

  Scenario: A stream longer than the grace period is ended with a shutdown event
    Given the service is running with:
      | shutdown.grace_period | 500ms |
    And the upstream streams its answer in 8 chunks 400ms apart
    When I start streaming the chat message "Tell me a very long story"
    And I read 1 content chunk
    And the service is sent SIGTERM
    Then the stream ends with an error event of type "shutdown"
    And the service exits with code 0
    And the service logged the shutdown phases readiness, drain, forced_end, done
