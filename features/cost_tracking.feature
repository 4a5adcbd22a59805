Feature: Cost tracking
  As the person who pays the model bill
  I want every answer to say what it cost and the totals to be on the metrics page
  So that spend is visible per request and per model before the invoice arrives

  Prices come from the price table (USD per million tokens, or per image by size and quality).

  Background:
    Given the service is running

  @smoke @local
  Scenario Outline: A chat answer is priced from the price table
    When I send the chat message "How much does this answer cost?" to the model "<model>"
    Then the response status is 200
    And the cost is $<input price> per million input tokens and $<output price> per million output tokens
    And the X-Cost-USD header equals the usage cost
    And the metric cost_request_cost_usd_sum{route="/v1/chat",model="<model>"} increased by the usage cost
    And the metric cost_request_cost_usd_count{route="/v1/chat",model="<model>"} increased by 1
    And the metric cost_provider_tokens_total{model="<model>",type="input"} increased by the prompt tokens
    And the metric cost_provider_tokens_total{model="<model>",type="output"} increased by the completion tokens

    Examples:
      | model       | input price | output price |
      | gpt-4o-mini | 0.15        | 0.60         |
      | gpt-4o      | 2.50        | 10.00        |

  Scenario: A streamed answer is priced in its final usage chunk
    When I stream the chat message "How much does a stream cost?"
    Then the stream ends with [DONE]
    And the stream's cost is $0.15 per million input tokens and $0.60 per million output tokens
    And the metric cost_request_cost_usd_sum{route="/v1/chat/stream",model="gpt-4o-mini"} increased by the usage cost

  Scenario: A stream without upstream usage is still priced, from an estimate
    Given the upstream reports no token usage
    When I stream the chat message "Estimate me"
    Then the stream ends with [DONE]
    And the usage is marked as estimated
    And the stream's cost is $0.15 per million input tokens and $0.60 per million output tokens

  Scenario: An agent run costs what its model calls cost
    When I ask the agent "calculator" "What is 19 * 23?"
    Then the response status is 200
    And the cost is $0.15 per million input tokens and $0.60 per million output tokens
    And the X-Cost-USD header equals the usage cost
    # One client request is one observation, with the total of its model calls.
    And the metric cost_request_cost_usd_count{route="/v1/agents/:id/runs",model="gpt-4o-mini"} increased by 1

  Scenario Outline: Images are priced per image, size and quality
    When I ask for <count> images of "a priced painting" at size <size> in <quality> quality
    Then the response status is 200
    And the image cost is $<cost>
    And the metric cost_request_cost_usd_sum{route="/v1/images",model="gpt-image-1"} increased by <cost>

    Examples:
      | count | size      | quality | cost  |
      | 1     | 1024x1024 | low     | 0.011 |
      | 1     | 1024x1024 | medium  | 0.042 |
      | 1     | 1024x1024 | high    | 0.167 |
      | 2     | 1536x1024 | high    | 0.5   |
      | 3     | 1024x1536 | medium  | 0.189 |
      | 1     | auto      | auto    | 0.042 |

  Scenario: A model without a price is counted as unpriced, not as free
    Given the service is running with:
      | prices.gpt-4o-mini.input_per_1m  | 0 |
      | prices.gpt-4o-mini.output_per_1m | 0 |
    When I send the chat message "What do I cost?"
    Then the response status is 200
    And the response reports no cost
    And the metric cost_unpriced_requests_total{model="gpt-4o-mini"} increased by 1
    And the metric cost_request_cost_usd_count{model="gpt-4o-mini"} increased by 0
