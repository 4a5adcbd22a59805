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

// TestKeysContract adds the answers of virtual keys to the client contract: a model the key
// may not use (403) and a spent budget (429 budget_exceeded with Retry-After and OpenAI's
// x-ratelimit-* headers). The keys are the provider's (pactkit.StateVirtualKeys).
func TestKeysContract(t *testing.T) {
	gpt4o := obj{"model": "gpt-4o", "messages": []any{obj{"role": "user", "content": "Say hello"}}, "max_tokens": 16}
	cases := []clientCase{
		{
			name: "model not allowed",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.Given(pactkit.StateVirtualKeys).
					UponReceiving("a chat request for a model the key may not use").
					WithRequest(http.MethodPost, "/v1/chat", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).
							Header("Authorization", match.S("Bearer "+pactkit.KeyMiniOnly)).JSONBody(gpt4o)
					}).
					WillRespondWith(http.StatusForbidden, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							JSONBody(errorBody("permission_error", "model_not_allowed", `This API key may not use the model "gpt-4o".`))
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				c.APIKey = pactkit.KeyMiniOnly
				req := chatRequest()
				req.Model = "gpt-4o"
				return wantAPIError(c, ctx, req, http.StatusForbidden, "permission_error")
			},
		},
		{
			name: "budget spent",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.Given(pactkit.StateVirtualKeys).
					UponReceiving("a chat request with a key whose budget is spent").
					WithRequest(http.MethodPost, "/v1/chat", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).
							Header("Authorization", match.S("Bearer "+pactkit.KeySpent)).JSONBody(chatRequestBody)
					}).
					WillRespondWith(http.StatusTooManyRequests, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							Header("Retry-After", match.Regex("3600", `^[0-9]+$`)).
							Header("x-ratelimit-limit-requests", match.Regex("1000", `^[0-9]+$`)).
							Header("x-ratelimit-remaining-requests", match.Regex("999", `^[0-9]+$`)).
							Header("x-ratelimit-reset-requests", match.Regex("60ms", `^[0-9.]+(ms|s|m[0-9]+s)$`)).
							JSONBody(errorBody("rate_limit_error", "budget_exceeded", "This API key spent its daily budget; it resets at 00:00 UTC."))
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				c.APIKey = pactkit.KeySpent
				return wantAPIError(c, ctx, chatRequest(), http.StatusTooManyRequests, "rate_limit_error")
			},
		},
	}
	runClientCases(t, cases)
}

// wantAPIError sends a chat request and checks the error answer the client decoded.
func wantAPIError(c *client.Client, ctx context.Context, req client.ChatRequest, status int, typ string) error {
	_, _, err := c.Chat(ctx, req)
	var ae *client.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("want an API error, got %v", err)
	}
	return expectError(&ae.Response, status, typ)
}
