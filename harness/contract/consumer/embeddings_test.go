package consumer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/pact-foundation/pact-go/v2/consumer"
	match "github.com/pact-foundation/pact-go/v2/matchers"

	"aiservice/harness/client"
	"aiservice/harness/contract/internal/pactkit"
)

// TestEmbeddingsContract adds POST /v1/embeddings to the aiservice-client → aiservice contract:
// a priced list of float vectors, and OpenAI's 400 for an empty batch.
func TestEmbeddingsContract(t *testing.T) {
	texts := []string{"The food was delicious.", "The service was slow."}
	cases := []clientCase{
		{
			name: "embeddings",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.Given(pactkit.StateUpstreamHealthy).
					UponReceiving("an embeddings request for two texts").
					WithRequest(http.MethodPost, "/v1/embeddings", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).
							JSONBody(obj{"model": "text-embedding-3-small", "input": []any{texts[0], texts[1]}})
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							Header("X-Request-Id", requestID).
							Header("X-Cost-USD", costHeader).
							JSONBody(obj{
								"object": "list",
								"model":  "text-embedding-3-small",
								"data": match.EachLike(obj{
									"object":    match.Equality("embedding"),
									"index":     match.Integer(0),
									"embedding": match.EachLike(0.0123, 1),
								}, 2),
								"usage": obj{
									"prompt_tokens": match.Integer(11),
									"total_tokens":  match.Integer(11),
									"cost_usd":      costUSD,
								},
							})
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				resp, _, err := c.Embeddings(ctx, client.EmbeddingRequest{Model: "text-embedding-3-small", Input: texts})
				if err != nil {
					return err
				}
				if resp.Object != "list" || len(resp.Data) != 2 || len(resp.Data[0].Embedding) == 0 ||
					resp.Usage == nil || resp.Usage.PromptTokens == 0 || resp.Usage.CostUSD == nil {
					return fmt.Errorf("unexpected embeddings answer: %+v", resp)
				}
				return nil
			},
		},
		{
			name: "embeddings of an empty batch",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.UponReceiving("an embeddings request with an empty input array").
					WithRequest(http.MethodPost, "/v1/embeddings", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).
							JSONBody(obj{"model": "text-embedding-3-small", "input": []any{}})
					}).
					WillRespondWith(http.StatusBadRequest, func(b *consumer.V4ResponseBuilder) {
						e := errorBody("invalid_request_error", nil, "input must not be an empty array.")
						e["error"].(obj)["param"] = "input"
						b.Header("Content-Type", jsonContentType).JSONBody(e)
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				_, _, err := c.Embeddings(ctx, client.EmbeddingRequest{Model: "text-embedding-3-small", Input: []string{}})
				var ae *client.APIError
				if !errors.As(err, &ae) {
					return fmt.Errorf("want an API error, got %v", err)
				}
				if ae.Body.Error.Param == nil || *ae.Body.Error.Param != "input" {
					return fmt.Errorf("error param %v, want input", ae.Body.Error.Param)
				}
				return expectError(&ae.Response, http.StatusBadRequest, "invalid_request_error")
			},
		},
	}
	runClientCases(t, cases)
}

// TestUpstreamEmbeddingsContract adds to the aiservice → openai-compatible-upstream contract
// what the service sends for POST /v1/embeddings (the client's body, model set) and what it
// needs back: a list of vectors and the usage it prices.
func TestUpstreamEmbeddingsContract(t *testing.T) {
	runUpstreamCases(t, pactkit.Upstream, upstreamConfig, []upstreamCase{{
		name: "embeddings",
		declare: func(t *testing.T, p *consumer.V4HTTPMockProvider) {
			p.AddInteraction().Given(pactkit.StateUpstreamKey).
				UponReceiving("an embeddings request").
				WithRequest(http.MethodPost, "/v1/embeddings", func(b *consumer.V4RequestBuilder) {
					upstreamHeaders(b, "application/json").
						JSONBody(obj{"model": "text-embedding-3-small", "input": []any{"hello world"}, "dimensions": 4})
				}).
				WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
					b.Header("Content-Type", jsonContentType).JSONBody(obj{
						"object": "list",
						"model":  match.Like("text-embedding-3-small"),
						"data": match.EachLike(obj{
							"object":    match.Equality("embedding"),
							"index":     match.Integer(0),
							"embedding": match.EachLike(0.5, 1),
						}, 1),
						"usage": obj{"prompt_tokens": match.Integer(3), "total_tokens": match.Integer(3)},
					})
				})
		},
		run: func(ctx context.Context, c *client.Client) error {
			dims := 4
			resp, _, err := c.Embeddings(ctx, client.EmbeddingRequest{Model: "text-embedding-3-small", Input: []string{"hello world"}, Dimensions: &dims})
			if err != nil {
				return err
			}
			if resp.Model != "text-embedding-3-small" || len(resp.Data) != 1 || resp.Usage == nil || resp.Usage.PromptTokens != 3 || resp.Usage.CostUSD == nil {
				return fmt.Errorf("the service did not relay and price the embeddings: %+v", resp)
			}
			return nil
		},
	}})
}
