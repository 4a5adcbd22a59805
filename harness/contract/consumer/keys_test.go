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
	gpt4o := chatRequest()
	gpt4o.Model = "gpt-4o"
	runClientCases(t, []clientCase{
		keyCase(keyRefusal{name: "model not allowed", what: "a chat request for a model the key may not use",
			key: pactkit.KeyMiniOnly, req: gpt4o, status: http.StatusForbidden,
			typ: "permission_error", code: "model_not_allowed", message: `This API key may not use the model "gpt-4o".`}),
		keyCase(keyRefusal{name: "budget spent", what: "a chat request with a key whose budget is spent",
			key: pactkit.KeySpent, req: chatRequest(), status: http.StatusTooManyRequests,
			typ: "rate_limit_error", code: "budget_exceeded", message: "This API key spent its daily budget; it resets at 00:00 UTC.",
			headers: map[string]match.Matcher{
				"Retry-After":                    match.Regex("3600", `^[0-9]+$`),
				"x-ratelimit-limit-requests":     match.Regex("1000", `^[0-9]+$`),
				"x-ratelimit-remaining-requests": match.Regex("999", `^[0-9]+$`),
				"x-ratelimit-reset-requests":     match.Regex("60ms", `^[0-9.]+(ms|s|m[0-9]+s)$`),
			}}),
	})
}

// keyRefusal is a chat request with a virtual key and the error answer it gets.
type keyRefusal struct {
	name, what, key    string
	req                client.ChatRequest
	status             int
	typ, code, message string
	headers            map[string]match.Matcher
}

func keyCase(k keyRefusal) clientCase {
	reqBody := obj{"model": k.req.Model, "messages": []any{obj{"role": "user", "content": "Say hello"}}, "max_tokens": *k.req.MaxTokens}
	return clientCase{
		name: k.name,
		declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
			return i.Given(pactkit.StateVirtualKeys).
				UponReceiving(k.what).
				WithRequest(http.MethodPost, "/v1/chat", func(b *consumer.V4RequestBuilder) {
					b.Header("Content-Type", match.S("application/json")).
						Header("Authorization", match.S("Bearer "+k.key)).JSONBody(reqBody)
				}).
				WillRespondWith(k.status, func(b *consumer.V4ResponseBuilder) {
					b.Header("Content-Type", jsonContentType)
					for name, m := range k.headers {
						b.Header(name, m)
					}
					b.JSONBody(errorBody(k.typ, k.code, k.message))
				})
		},
		run: func(ctx context.Context, c *client.Client) error {
			c.APIKey = k.key
			_, _, err := c.Chat(ctx, k.req)
			var ae *client.APIError
			if !errors.As(err, &ae) {
				return fmt.Errorf("want an API error, got %v", err)
			}
			return expectError(&ae.Response, k.status, k.typ)
		},
	}
}
