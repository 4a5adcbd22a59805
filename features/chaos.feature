@chaos
Feature: Chaos: the gateway under network, dependency and resource faults
  As the operator of the gateway
  I want every fault to end in a clear answer for the user and the service to come back by itself
  So that a bad network, a failing provider or a starved machine never means hung requests,
  lost requests or a dead process

  The scenarios start a service of their own, with its own simulator standing in for the model
  provider. The resource scenarios confine that service for real: a Linux cgroup for CPU and
  memory (or, where none can be made, busy processes on the same core and GOMEMLIMIT), and a
  low open-file limit. The full set of faults, with exact timings and leak checks, is the chaos
  suite (harness/chaos, `go tool task test:chaos`).

  # --- Network -------------------------------------------------------------------------------

  Scenario: A dropped connection to the provider is retried and the user never sees it
    Given the service is running with a separate simulator
    And the upstream drops the connection on the next 1 request
    When I send the chat message "Hello"
    Then the response status is 200
    And the answer is not empty
    And the upstream received 2 chat requests
    And the metric upstream_retries_total{model="gpt-4o-mini"} increased by 1

  Scenario: A provider that stops answering costs a 504 at the deadline, not a hung request
    Given the service is running with a 500ms deadline for "chat" requests
    And the upstream takes 5s to answer
    When I send the chat message "Hello"
    Then the response status is 504
    And the error type is "timeout"
    And the answer came after about 500ms
    And the simulator saw the request cancelled

  Scenario: A stream cut by the network ends with an error event, never with [DONE]
    Given the service is running with a separate simulator
    And the upstream cuts the stream after 2 chunks
    When I stream the chat message "Hello"
    Then I receive at least 1 content chunks
    And the stream ends with an error event of type "upstream_error"

  # --- Dependencies --------------------------------------------------------------------------

  Scenario: A provider that is down is cut off, and traffic resumes when it is back
    Given the service is running with:
      | resilience.breaker_failures | 3     |
      | resilience.breaker_cooldown | 500ms |
      | resilience.max_retries      | 0     |
    And the upstream fails every request with status 503
    When I send 3 chat messages
    Then all 3 responses have status 503
    And the circuit for "gpt-4o-mini" is open
    When the upstream recovers
    Then within 3s a chat message succeeds

  Scenario: A provider that rate-limits gets its Retry-After honoured and passed on
    Given the service is running with:
      | resilience.max_retries | 0 |
    And the upstream fails the next 1 request with status 429 asking to retry after 1s
    When I send the chat message "Hello"
    Then the response status is 429
    And the error type is "rate_limit_error"
    And the response asks to retry after 1 second at most

  # --- Resources -----------------------------------------------------------------------------

  @resource
  Scenario: Starved of CPU, the service still keeps its deadlines and answers health checks
    Given the service is running with a 1s deadline for "chat" requests
    And the service is limited to 0.1 of a CPU core
    And the upstream takes 3s to answer
    When I send the chat message "Hello"
    Then the response status is 504
    And the error type is "timeout"
    And the answer came after about 1s
    And health checks answer within 1s
    When the CPU limit is lifted
    And the upstream recovers
    Then within 3s a chat message succeeds

  @resource
  Scenario: Short of memory, the service turns new requests away instead of being killed
    Given the service is running with a separate simulator
    And the service runs in 128 MiB of memory
    And the upstream takes 1s to answer
    When I send 60 large chat messages in quick succession
    Then every response is an answer or a refusal to retry later
    And one of the responses has status 503 and the error code "memory_pressure"
    And the service is still running
    And the service's soft memory limit follows its memory limit
    And the metric memory_pressure_shed_total increased by at least 1
    When the upstream recovers
    Then within 5s a chat message succeeds

  @resource
  Scenario: Out of file descriptors, new connections are refused cleanly and open ones keep working
    Given the service is running with a separate simulator
    And I hold a connection open to the service
    When the service runs out of file descriptors
    And I send the chat message "Hello" on a new connection
    Then the response status is 503
    And the error code is "too_many_open_files"
    And the response asks to retry after 1 second at most
    And the answer came within 500ms
    And the held connection still gets answers
    When file descriptors are freed
    Then within 3s a chat message succeeds
    And the metric connections_refused_no_fd_total increased by at least 1
