package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/pact-foundation/pact-go/v2/consumer"
	match "github.com/pact-foundation/pact-go/v2/matchers"

	"aiservice/harness/client"
	"aiservice/harness/contract/internal/pactkit"
)

// The two Anthropic contracts: what Anthropic's Go SDK relies on from the service's
// /v1/messages (consumer anthropic-client), and what the service's `anthropic` provider sends
// to Anthropic's API and relies on in its answers (consumer aiservice, recorded from the real
// binary as the OpenAI upstream contract is).

// anthropicUpstreamConfig routes claude-haiku-4-5 to the mock as a `type: anthropic` provider.
func anthropicUpstreamConfig(mockURL string) string {
	return fmt.Sprintf(`providers:
  - {name: anthropic-up, type: anthropic, base_url: %s, api_key: %s}
models:
  - {name: claude-haiku-4-5, provider: anthropic-up}
default_model: claude-haiku-4-5
agents: []
resilience: {max_retries: 0}
`, mockURL, pactkit.UpstreamAPIKey)
}

// anthropicHeaders are what the service sends on every request to an Anthropic upstream.
func anthropicHeaders(b *consumer.V4RequestBuilder, accept string) *consumer.V4RequestBuilder {
	return b.Header("Content-Type", match.S("application/json")).Header("Accept", match.S(accept)).
		Header("X-Api-Key", match.S(pactkit.UpstreamAPIKey)).Header("Anthropic-Version", match.S("2023-06-01"))
}

// anthropicMessage is a `message` with one text block.
func anthropicMessage(model any) obj {
	return obj{
		"id": match.Like("msg_01abc"), "type": "message", "role": "assistant", "model": model,
		"content":     match.EachLike(obj{"type": match.Equality("text"), "text": match.Like("Hello there.")}, 1),
		"stop_reason": match.Regex("end_turn", `^(end_turn|max_tokens|stop_sequence|tool_use)$`),
		"usage":       obj{"input_tokens": match.Integer(9), "output_tokens": match.Integer(3)},
	}
}

// messagesBody is the Messages request both contracts use: what the client sends, and (model
// patched) what the service forwards.
var messagesBody = obj{"model": "claude-haiku-4-5", "max_tokens": 64,
	"messages": []any{obj{"role": "user", "content": []any{obj{"type": "text", "text": "Say hello"}}}}}

const anthropicStreamExample = `event: message_start
data: {"type":"message_start","message":{"id":"msg_01abc","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello there."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}

event: message_stop
data: {"type":"message_stop"}

`

var anthropicStreamPatterns = []string{
	`(event: [a-z_]+\ndata: \{[^\n]*\}\n\n)+`,
	pactkit.Prefix(`event: message_start\ndata: \{[^\n]*"usage":\{[^\n]*"input_tokens":[0-9]+`),
	pactkit.Contains(`event: content_block_delta\ndata: \{[^\n]*"text_delta"`),
	pactkit.Contains(`event: message_delta\ndata: \{[^\n]*"stop_reason":"(end_turn|max_tokens|stop_sequence)"[^\n]*"output_tokens":[0-9]+`),
	pactkit.Suffix(`event: message_stop\ndata: \{"type":"message_stop"\}\n\n`),
}

func TestAnthropicUpstreamContract(t *testing.T) {
	checkPatterns(t, anthropicStreamExample, anthropicStreamPatterns)
	messages := func(ctx context.Context, c *client.Client, extra string) (*client.Response, error) {
		body := `{"model":"claude-haiku-4-5","max_tokens":64` + extra + `,"messages":[{"role":"user","content":[{"type":"text","text":"Say hello"}]}]}`
		return c.Do(ctx, http.MethodPost, "/v1/messages", "application/json", []byte(body))
	}
	streamBody := obj{"stream": true}
	for k, v := range messagesBody {
		streamBody[k] = v
	}
	runUpstreamCases(t, pactkit.AnthropicUpstream, anthropicUpstreamConfig, []upstreamCase{
		{
			name: "message",
			declare: func(t *testing.T, p *consumer.V4HTTPMockProvider) {
				p.AddInteraction().Given(pactkit.StateUpstreamKey).UponReceiving("a Messages request").
					WithRequest(http.MethodPost, "/v1/messages", func(b *consumer.V4RequestBuilder) {
						anthropicHeaders(b, "application/json").JSONBody(messagesBody)
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).JSONBody(anthropicMessage(match.Like("claude-haiku-4-5")))
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				r, err := messages(ctx, c, "")
				if err != nil || r.Status != 200 || !strings.Contains(string(r.Body), `"text":"Hello there."`) || !strings.Contains(string(r.Body), `"cost_usd":`) {
					return fmt.Errorf("the service did not pass the message through, priced: %v %+v", err, r)
				}
				return nil
			},
		},
		{
			name: "stream",
			declare: func(t *testing.T, p *consumer.V4HTTPMockProvider) {
				p.AddInteraction().Given(pactkit.StateUpstreamKey).UponReceiving("a streaming Messages request").
					WithRequest(http.MethodPost, "/v1/messages", func(b *consumer.V4RequestBuilder) {
						anthropicHeaders(b, "text/event-stream").JSONBody(streamBody)
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", sseContentType).Body("text/event-stream", []byte(anthropicStreamExample))
						if err := pactkit.ResponseBodyRegex(b, anthropicStreamPatterns...); err != nil {
							t.Fatal(err)
						}
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				r, err := messages(ctx, c, `,"stream":true`)
				if err != nil || r.Status != 200 || !strings.Contains(string(r.Body), "event: message_stop") || !strings.Contains(string(r.Body), `"cost_usd":`) {
					return fmt.Errorf("the service did not relay the events, priced: %v %+v", err, r)
				}
				return nil
			},
		},
		{
			name: "chat completion translated",
			declare: func(t *testing.T, p *consumer.V4HTTPMockProvider) {
				p.AddInteraction().Given(pactkit.StateUpstreamKey).UponReceiving("a Messages request translated from a chat completion").
					WithRequest(http.MethodPost, "/v1/messages", func(b *consumer.V4RequestBuilder) {
						anthropicHeaders(b, "application/json").JSONBody(obj{"model": "claude-haiku-4-5", "max_tokens": 16,
							"messages": []any{obj{"role": "user", "content": []any{obj{"type": "text", "text": "Say hello"}}}}})
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).JSONBody(anthropicMessage(match.Like("claude-haiku-4-5")))
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				req := chatRequest()
				req.Model = "claude-haiku-4-5"
				resp, _, err := c.ChatCompletions(ctx, req)
				if err != nil {
					return err
				}
				if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == nil || *resp.Choices[0].Message.Content != "Hello there." ||
					resp.Choices[0].FinishReason != "stop" || resp.Usage == nil || resp.Usage.PromptTokens != 9 {
					return fmt.Errorf("the service did not translate the message back: %+v", resp)
				}
				return nil
			},
		},
		{
			name: "overloaded",
			declare: func(t *testing.T, p *consumer.V4HTTPMockProvider) {
				p.AddInteraction().Given(pactkit.StateUpstreamBusy).UponReceiving("a Messages request while overloaded").
					WithRequest(http.MethodPost, "/v1/messages", func(b *consumer.V4RequestBuilder) {
						anthropicHeaders(b, "application/json").JSONBody(messagesBody)
					}).
					WillRespondWith(529, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).Header("Retry-After", match.Regex("1", `^[0-9]+$`)).
							JSONBody(obj{"type": "error", "error": obj{"type": "overloaded_error", "message": match.Like("Overloaded")}})
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				r, err := messages(ctx, c, "")
				if err != nil || r.Status != 529 || !strings.Contains(string(r.Body), `"overloaded_error"`) || r.Header.Get("Retry-After") == "" {
					return fmt.Errorf("the service did not pass the overload on as Anthropic's 529: %v %+v", err, r)
				}
				return nil
			},
		},
	})
}

// TestAnthropicClientContract: Anthropic's Go SDK, pointed at the mock of the service, creates
// a message and gets a 404 as *anthropic.Error: what it relies on from /v1/messages.
func TestAnthropicClientContract(t *testing.T) {
	ask := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hello"))}
	for _, tc := range []struct {
		name    string
		declare func(i *consumer.V4UnconfiguredInteraction)
		run     func(ctx context.Context, sdk anthropic.Client) error
	}{
		{
			name: "message",
			declare: func(i *consumer.V4UnconfiguredInteraction) {
				i.Given(pactkit.StateUpstreamHealthy).UponReceiving("an Anthropic Messages request").
					WithRequest(http.MethodPost, "/v1/messages", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).Header("Anthropic-Version", match.Like("2023-06-01")).JSONBody(messagesBody)
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						m := anthropicMessage("claude-haiku-4-5")
						m["usage"] = obj{"input_tokens": match.Integer(9), "output_tokens": match.Integer(3), "cost_usd": costUSD}
						b.Header("Content-Type", jsonContentType).Header("X-Request-Id", requestID).Header("X-Cost-USD", costHeader).JSONBody(m)
					})
			},
			run: func(ctx context.Context, sdk anthropic.Client) error {
				msg, err := sdk.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-haiku-4-5", MaxTokens: 64, Messages: ask})
				if err != nil {
					return err
				}
				if msg.Content[0].Text != "Hello there." || msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.InputTokens != 9 {
					return fmt.Errorf("the SDK read %+v", msg)
				}
				var cost struct {
					Usage struct {
						CostUSD float64 `json:"cost_usd"`
					} `json:"usage"`
				}
				if err := json.Unmarshal([]byte(msg.RawJSON()), &cost); err != nil || cost.Usage.CostUSD <= 0 {
					return fmt.Errorf("no usage.cost_usd in %s (%v)", msg.RawJSON(), err)
				}
				return nil
			},
		},
		{
			name: "unknown model",
			declare: func(i *consumer.V4UnconfiguredInteraction) {
				i.Given(pactkit.StateUpstreamHealthy).UponReceiving("an Anthropic Messages request for an unknown model").
					WithRequest(http.MethodPost, "/v1/messages", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).JSONBody(obj{"model": "claude-nope", "max_tokens": 64,
							"messages": []any{obj{"role": "user", "content": []any{obj{"type": "text", "text": "Say hello"}}}}})
					}).
					WillRespondWith(http.StatusNotFound, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							JSONBody(obj{"type": "error", "error": obj{"type": "not_found_error", "message": match.Like("The model does not exist.")}})
					})
			},
			run: func(ctx context.Context, sdk anthropic.Client) error {
				_, err := sdk.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-nope", MaxTokens: 64, Messages: ask})
				var apiErr *anthropic.Error
				if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
					return fmt.Errorf("unknown model: %v, want an *anthropic.Error 404", err)
				}
				return nil
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPact(t, pactkit.AnthropicClient, pactkit.Service)
			tc.declare(p.AddInteraction())
			err := p.ExecuteTest(t, func(cfg consumer.MockServerConfig) error {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				sdk := anthropic.NewClient(option.WithBaseURL(mockURL(cfg)), option.WithAPIKey("unused"), option.WithMaxRetries(0))
				return tc.run(ctx, sdk)
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
