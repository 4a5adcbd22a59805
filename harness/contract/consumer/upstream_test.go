package consumer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pact-foundation/pact-go/v2/consumer"
	match "github.com/pact-foundation/pact-go/v2/matchers"

	"aiservice/harness/client"
	"aiservice/harness/contract/internal/pactkit"
	"aiservice/harness/launch"
)

// The aiservice → openai-compatible-upstream contract is recorded from the real binary: each
// interaction starts aiservice with its `openai` provider pointed at the Pact mock server, and
// drives it through its public API. The requests in the pact are therefore exactly what
// service/internal/provider/openai.go sends, and the mock's answers are what the service must be
// able to consume (the test asserts what the service made of them).

// upstreamConfig routes the chat, image and embedding models to the mock with an API key. Retries are off
// so that every API call makes exactly one upstream request (a mismatch answered 500 by the mock
// would otherwise be retried, and the 429 interaction expects one request).
func upstreamConfig(mockURL string) string {
	return fmt.Sprintf(`providers:
  - name: upstream
    type: openai
    base_url: %s/v1
    api_key: %s
models:
  - name: gpt-4o-mini
    provider: upstream
  - name: gpt-image-1
    provider: upstream
    kind: image
  - name: text-embedding-3-small
    provider: upstream
    kind: embedding
resilience:
  max_retries: 0
`, mockURL, pactkit.UpstreamAPIKey)
}

// upstreamHeaders are the headers the service sends on every upstream request.
func upstreamHeaders(b *consumer.V4RequestBuilder, accept string) *consumer.V4RequestBuilder {
	return b.Header("Content-Type", match.S("application/json")).
		Header("Accept", match.S(accept)).
		Header("Authorization", match.S("Bearer "+pactkit.UpstreamAPIKey))
}

// completion is an upstream chat.completion with one choice. The choice is an EachLike
// template, whose type rule cascades to plain values: fixed values in it use match.Equality.
func completion(message obj, finish match.Matcher, prompt, completionTokens int) obj {
	return obj{
		"id":      match.Like("chatcmpl-abc123"),
		"object":  "chat.completion",
		"created": match.Integer(1700000000),
		"model":   match.Like("gpt-4o-mini"),
		"choices": match.EachLike(obj{
			"index":         match.Integer(0),
			"message":       message,
			"finish_reason": finish,
		}, 1),
		"usage": obj{
			"prompt_tokens":     match.Integer(prompt),
			"completion_tokens": match.Integer(completionTokens),
			"total_tokens":      match.Integer(prompt + completionTokens),
		},
	}
}

// upstreamStreamExample is an OpenAI stream with include_usage: content chunks, a finish chunk,
// the usage chunk (empty choices), [DONE]. upstreamStreamPatterns hold the simulator (or any
// upstream) to the parts the service's stream reader depends on.
const upstreamStreamExample = `data: {"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}

data: {"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" there."},"finish_reason":null}]}

data: {"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: {"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}

data: [DONE]

`

var upstreamStreamPatterns = []string{
	`(data: \{[^\n]*\}\n\n)+data: \[DONE\]\n\n`,
	pactkit.Prefix(`data: \{[^\n]*"object":"chat\.completion\.chunk"`),
	pactkit.Prefix(`data: \{[^\n]*"delta":\{[^\n]*"role":"assistant"`),
	pactkit.Contains(`"finish_reason":"(stop|length)"`),
	pactkit.Suffix(`data: \{[^\n]*"choices":\[\][^\n]*\}\n\ndata: \[DONE\]\n\n`),
	pactkit.Suffix(`data: \{[^\n]*"usage":\{[^\n]*"prompt_tokens":[0-9]+[^\n]*\}\n\ndata: \[DONE\]\n\n`),
	pactkit.Suffix(`data: \{[^\n]*"usage":\{[^\n]*"completion_tokens":[0-9]+[^\n]*\}\n\ndata: \[DONE\]\n\n`),
}

// The agent interactions: the calculator agent's two model calls, mirrored from the service's
// defaults (system prompt, tool spec). The texts are type-matched: the upstream does not care
// about their wording, the service does not promise it.
var (
	agentSystem = obj{"role": "system", "content": match.Like("You are a careful assistant. Use the calculator tool for any arithmetic.")}
	agentUser   = obj{"role": "user", "content": "What is 6 * 7?"}
	agentTools  = []any{obj{"type": "function", "function": obj{
		"name":        "calculator",
		"description": match.Like("Evaluates an arithmetic expression with + - * / % ^ and parentheses."),
		"parameters": obj{
			"type":       "object",
			"properties": obj{"expression": obj{"type": "string", "description": match.Like("e.g. (2 + 3) * 4")}},
			"required":   []any{"expression"},
		},
	}}}
	agentToolCall = obj{
		"id":       match.Like("call_abc123"),
		"type":     match.Equality("function"),
		"function": obj{"name": match.Equality("calculator"), "arguments": match.Like(`{"expression":"6 * 7"}`)},
	}
)

// upstreamCase is one ExecuteTest of the upstream contract: one or more interactions declared
// on the mock, and the API calls that make the service send them.
type upstreamCase struct {
	name    string
	declare func(t *testing.T, p *consumer.V4HTTPMockProvider)
	run     func(ctx context.Context, c *client.Client) error
	config  func(mockURL string) string // the service's config; nil: upstreamConfig
}

func TestUpstreamContract(t *testing.T) {
	checkPatterns(t, upstreamStreamExample, upstreamStreamPatterns)
	cases := []upstreamCase{
		{
			name: "chat",
			declare: func(t *testing.T, p *consumer.V4HTTPMockProvider) {
				p.AddInteraction().Given(pactkit.StateUpstreamKey).
					UponReceiving("a chat completion request").
					WithRequest(http.MethodPost, "/v1/chat/completions", func(b *consumer.V4RequestBuilder) {
						upstreamHeaders(b, "application/json").JSONBody(chatRequestBody)
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							JSONBody(completion(obj{"role": match.Equality("assistant"), "content": match.Like("Hello there.")}, finishReason, 9, 3))
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				resp, _, err := c.Chat(ctx, chatRequest())
				if err != nil {
					return err
				}
				if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == nil || *resp.Choices[0].Message.Content != "Hello there." {
					return fmt.Errorf("the service did not relay the upstream's answer: %+v", resp)
				}
				if u := resp.Usage; u == nil || u.PromptTokens != 9 || u.CompletionTokens != 3 || u.CostUSD == nil || *u.CostUSD <= 0 {
					return fmt.Errorf("the service did not price the upstream's usage: %+v", resp.Usage)
				}
				return nil
			},
		},
		{
			name: "stream",
			declare: func(t *testing.T, p *consumer.V4HTTPMockProvider) {
				body := obj{"stream": true, "stream_options": obj{"include_usage": true}}
				for k, v := range chatRequestBody {
					body[k] = v
				}
				p.AddInteraction().Given(pactkit.StateUpstreamKey).
					UponReceiving("a streaming chat completion request with usage").
					WithRequest(http.MethodPost, "/v1/chat/completions", func(b *consumer.V4RequestBuilder) {
						upstreamHeaders(b, "text/event-stream").JSONBody(body)
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", sseContentType).Body("text/event-stream", []byte(upstreamStreamExample))
						if err := pactkit.ResponseBodyRegex(b, upstreamStreamPatterns...); err != nil {
							t.Fatal(err)
						}
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				st, err := c.ChatStream(ctx, chatRequest())
				if err != nil {
					return err
				}
				evs, err := st.Collect()
				if err != nil {
					return err
				}
				if got := client.StreamText(evs); got != "Hello there." {
					return fmt.Errorf("the service relayed %q", got)
				}
				if len(evs) < 2 || !evs[len(evs)-1].Done {
					return fmt.Errorf("the relayed stream did not end with [DONE]: %d events", len(evs))
				}
				u := evs[len(evs)-2].Chunk
				if u == nil || u.Usage == nil || u.Usage.PromptTokens != 9 || u.Usage.CostUSD == nil {
					return fmt.Errorf("the service did not relay the priced upstream usage: %s", evs[len(evs)-2].Data)
				}
				return nil
			},
		},
		{
			name: "images",
			declare: func(t *testing.T, p *consumer.V4HTTPMockProvider) {
				p.AddInteraction().Given(pactkit.StateUpstreamKey).
					UponReceiving("an image generation request").
					WithRequest(http.MethodPost, "/v1/images/generations", func(b *consumer.V4RequestBuilder) {
						upstreamHeaders(b, "application/json").
							JSONBody(obj{"prompt": "a lighthouse at dusk", "model": "gpt-image-1", "size": "1024x1024", "quality": "low"})
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).JSONBody(obj{
							"created": match.Integer(1700000000),
							"data":    match.EachLike(obj{"b64_json": match.Regex("iVBORw0KGgo=", `^[A-Za-z0-9+/]+={0,2}$`)}, 1),
						})
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				resp, _, err := c.Images(ctx, client.ImageRequest{Prompt: "a lighthouse at dusk", Model: "gpt-image-1", Size: "1024x1024", Quality: "low"})
				if err != nil {
					return err
				}
				if len(resp.Data) != 1 || resp.Data[0].B64JSON != "iVBORw0KGgo=" || resp.Usage == nil || resp.Usage.CostUSD == nil {
					return fmt.Errorf("the service did not relay and price the image: %+v", resp)
				}
				return nil
			},
		},
		{
			name: "agent tool calls",
			declare: func(t *testing.T, p *consumer.V4HTTPMockProvider) {
				p.AddInteraction().Given(pactkit.StateUpstreamKey).
					UponReceiving("a chat completion request offering the calculator tool").
					WithRequest(http.MethodPost, "/v1/chat/completions", func(b *consumer.V4RequestBuilder) {
						upstreamHeaders(b, "application/json").JSONBody(obj{
							"model":    "gpt-4o-mini",
							"messages": []any{agentSystem, agentUser},
							"tools":    agentTools,
						})
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).JSONBody(completion(obj{
							"role":       match.Equality("assistant"),
							"tool_calls": match.EachLike(agentToolCall, 1),
						}, match.Equality("tool_calls"), 80, 18))
					})
				p.AddInteraction().Given(pactkit.StateUpstreamKey).
					UponReceiving("a chat completion request carrying a tool result").
					WithRequest(http.MethodPost, "/v1/chat/completions", func(b *consumer.V4RequestBuilder) {
						upstreamHeaders(b, "application/json").JSONBody(obj{
							"model": "gpt-4o-mini",
							"messages": []any{agentSystem, agentUser,
								obj{"role": "assistant", "content": nil, "tool_calls": []any{obj{
									"id":       "call_abc123",
									"type":     "function",
									"function": obj{"name": "calculator", "arguments": `{"expression":"6 * 7"}`},
								}}},
								obj{"role": "tool", "tool_call_id": "call_abc123", "content": match.Like("42")},
							},
							"tools": agentTools,
						})
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							JSONBody(completion(obj{"role": match.Equality("assistant"), "content": match.Like("The result is 42.")}, finishReason, 110, 6))
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				run, _, err := c.RunAgent(ctx, "calculator", "What is 6 * 7?")
				if err != nil {
					return err
				}
				if run.Status != "completed" || run.Output != "The result is 42." || len(run.Steps) != 1 ||
					run.Steps[0].Tool != "calculator" || run.Steps[0].Result != "42" {
					return fmt.Errorf("the agent run did not follow the upstream's tool call: %+v", run)
				}
				if run.Usage.PromptTokens != 190 || run.Usage.CompletionTokens != 24 {
					return fmt.Errorf("the run did not add up both calls' usage: %+v", run.Usage)
				}
				return nil
			},
		},
		{
			name: "rate limited",
			declare: func(t *testing.T, p *consumer.V4HTTPMockProvider) {
				p.AddInteraction().Given(pactkit.StateUpstreamLimited).
					UponReceiving("a chat completion request while rate limited").
					WithRequest(http.MethodPost, "/v1/chat/completions", func(b *consumer.V4RequestBuilder) {
						upstreamHeaders(b, "application/json").JSONBody(chatRequestBody)
					}).
					WillRespondWith(http.StatusTooManyRequests, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							Header("Retry-After", match.Regex("1", `^[0-9]+$`)).
							JSONBody(obj{"error": obj{"message": match.Like("Rate limit reached."), "type": match.Like("rate_limit_error")}})
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				_, _, err := c.Chat(ctx, chatRequest())
				var ae *client.APIError
				if !errors.As(err, &ae) {
					return fmt.Errorf("want an API error, got %v", err)
				}
				if ae.Status != http.StatusTooManyRequests || ae.Body.Error.Type != "rate_limit_error" || ae.Header.Get("Retry-After") == "" {
					return fmt.Errorf("the service did not pass the upstream's rate limit on: %v (Retry-After %q)", ae, ae.Header.Get("Retry-After"))
				}
				// The upstream's free text is not passed on (issue 16): the gateway's own message.
				if strings.Contains(ae.Body.Error.Message, "Rate limit reached.") || !strings.Contains(ae.Body.Error.Message, "429") {
					return fmt.Errorf("the service passed the upstream's message on, or gave none of its own: %q", ae.Body.Error.Message)
				}
				return nil
			},
		},
	}
	runUpstreamCases(t, cases)
}

// runUpstreamCases runs each case against a service pointed at its own mock upstream.
func runUpstreamCases(t *testing.T, cases []upstreamCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPact(t, pactkit.Service, pactkit.Upstream)
			tc.declare(t, p)
			err := p.ExecuteTest(t, func(cfg consumer.MockServerConfig) error {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				config := upstreamConfig
				if tc.config != nil {
					config = tc.config
				}
				svc, err := launch.StartService(ctx, launch.Options{Config: config(mockURL(cfg))})
				if err != nil {
					return err
				}
				defer svc.Stop(5 * time.Second)
				if err := tc.run(ctx, client.New(svc.URL)); err != nil {
					return fmt.Errorf("%w\nservice log:\n%s", err, svc.Logs())
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
