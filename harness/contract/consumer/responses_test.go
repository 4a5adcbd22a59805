package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/pact-foundation/pact-go/v2/consumer"
	match "github.com/pact-foundation/pact-go/v2/matchers"

	"aiservice/harness/client"
	"aiservice/harness/contract/internal/pactkit"
)

// responsesBody is the Responses request of the contract cases, not stored (so a verification
// leaves nothing behind).
var responsesBody = obj{"model": "gpt-4o-mini", "input": "Say hello", "store": false}

// responseObject is the shape of a completed response with one output_text message.
func responseObject(usage obj) obj {
	return obj{
		"id":     match.Regex("resp_1", `^resp_[A-Za-z0-9_]+$`),
		"object": "response",
		"status": "completed",
		"model":  "gpt-4o-mini",
		"output": match.EachLike(obj{
			"type":    match.Equality("message"),
			"role":    match.Equality("assistant"),
			"content": match.EachLike(obj{"type": match.Equality("output_text"), "text": match.Like("Hello there.")}, 1),
		}, 1),
		"usage": usage,
	}
}

// postJSON sends a JSON body with the harness client and returns the answer as is.
func postJSON(ctx context.Context, c *client.Client, method, path string, body any) (*client.Response, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	return c.Do(ctx, method, path, "application/json", b)
}

// TestResponsesContract adds the Responses API to the aiservice-client → aiservice contract: a
// priced response object, and OpenAI's 404 for a response that is not stored.
func TestResponsesContract(t *testing.T) {
	notFound := func(method, what string) clientCase {
		return clientCase{
			name: method + " an unknown response",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.UponReceiving(what).
					WithRequest(consumer.Method(method), "/v1/responses/resp_unknown").
					WillRespondWith(http.StatusNotFound, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).JSONBody(errorBody("not_found_error", "response_not_found", "Response with id \"resp_unknown\" not found."))
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				resp, err := c.Do(ctx, method, "/v1/responses/resp_unknown", "", nil)
				if err != nil {
					return err
				}
				return expectError(resp, http.StatusNotFound, "not_found_error")
			},
		}
	}
	runClientCases(t, []clientCase{
		{
			name: "responses",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.Given(pactkit.StateUpstreamHealthy).
					UponReceiving("a Responses request").
					WithRequest(http.MethodPost, "/v1/responses", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).JSONBody(responsesBody)
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							Header("X-Request-Id", requestID).
							Header("X-Cost-USD", costHeader).
							JSONBody(responseObject(obj{"input_tokens": match.Integer(9), "output_tokens": match.Integer(3),
								"total_tokens": match.Integer(12), "cost_usd": costUSD}))
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				resp, err := postJSON(ctx, c, http.MethodPost, "/v1/responses", responsesBody)
				if err != nil {
					return err
				}
				var r struct {
					Object string `json:"object"`
					Output []struct {
						Content []struct{ Text string } `json:"content"`
					} `json:"output"`
					Usage struct {
						CostUSD *float64 `json:"cost_usd"`
					} `json:"usage"`
				}
				if resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &r) != nil || r.Object != "response" ||
					len(r.Output) == 0 || len(r.Output[0].Content) == 0 || r.Usage.CostUSD == nil {
					return fmt.Errorf("unexpected response: %d %s", resp.Status, resp.Body)
				}
				return nil
			},
		},
		notFound(http.MethodGet, "a read of a response that is not stored"),
		notFound(http.MethodDelete, "a delete of a response that is not stored"),
	})
}

// TestUpstreamResponsesContract adds to the aiservice → openai-compatible-upstream contract what
// the service sends an upstream that speaks Responses (a provider with `api: responses`): the
// client's body with the upstream's model, and the response object it needs back to price.
func TestUpstreamResponsesContract(t *testing.T) {
	runUpstreamCases(t, pactkit.Upstream, func(mockURL string) string {
		return fmt.Sprintf("providers:\n  - {name: upstream, type: openai, api: responses, base_url: %s/v1, api_key: %s}\n"+
			"models:\n  - {name: gpt-4o-mini, provider: upstream}\nresilience:\n  max_retries: 0\n", mockURL, pactkit.UpstreamAPIKey)
	}, []upstreamCase{{
		name: "responses",
		declare: func(t *testing.T, p *consumer.V4HTTPMockProvider) {
			p.AddInteraction().Given(pactkit.StateUpstreamKey).
				UponReceiving("a Responses request").
				WithRequest(http.MethodPost, "/v1/responses", func(b *consumer.V4RequestBuilder) {
					upstreamHeaders(b, "application/json").JSONBody(responsesBody)
				}).
				WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
					b.Header("Content-Type", jsonContentType).JSONBody(responseObject(obj{"input_tokens": match.Integer(9),
						"output_tokens": match.Integer(3), "total_tokens": match.Integer(12)}))
				})
		},
		run: func(ctx context.Context, c *client.Client) error {
			resp, err := postJSON(ctx, c, http.MethodPost, "/v1/responses", responsesBody)
			if err != nil {
				return err
			}
			var r struct {
				Model string `json:"model"`
				Usage struct {
					InputTokens int      `json:"input_tokens"`
					CostUSD     *float64 `json:"cost_usd"`
				} `json:"usage"`
			}
			if resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &r) != nil || r.Model != "gpt-4o-mini" || r.Usage.InputTokens != 9 || r.Usage.CostUSD == nil {
				return fmt.Errorf("the service did not relay and price the response: %d %s", resp.Status, resp.Body)
			}
			return nil
		},
	}})
}
