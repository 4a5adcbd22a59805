package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pact-foundation/pact-go/v2/consumer"
	match "github.com/pact-foundation/pact-go/v2/matchers"

	"aiservice/harness/client"
	"aiservice/harness/contract/internal/pactkit"
)

// obj is a JSON object in an expected body: plain values must be equal, matcher values
// (match.Like, match.Integer, ...) only need the matcher's shape. Inside an EachLike template
// the array's type rule cascades to plain values, so fixed values there use match.Equality.
type obj = map[string]any

// Shared response parts of the aiservice-client → aiservice contract.
var (
	jsonContentType = match.Regex("application/json; charset=utf-8", `^application/json(;.*)?$`)
	sseContentType  = match.Regex("text/event-stream", `^text/event-stream(;.*)?$`)
	// X-Request-Id: the service echoes a plain client id or makes a 32-hex one.
	requestID = match.Regex("4bf92f3577b34da6a3ce929d0e0e4736", `^[A-Za-z0-9._:-]{1,128}$`)
	// X-Cost-USD is a plain decimal (never exponent notation), e.g. 0.0000114.
	costHeader = match.Regex("0.0000114", `^[0-9]+(\.[0-9]+)?$`)
	// cost_usd is a JSON number; Like (a number of any form) rather than Decimal because Go
	// encodes small floats as 1.14e-05 and a zero cost as 0.
	costUSD = match.Like(0.0000114)
	// finish_reason is one of OpenAI's values.
	finishReason = match.Regex("stop", `^(stop|length|tool_calls|content_filter)$`)
)

// errorBody is OpenAI's error envelope with a fixed type and code (nil: not part of the
// contract) and any message.
func errorBody(typ string, code any, message string) obj {
	e := obj{"type": typ, "message": match.Like(message)}
	if code != nil {
		e["code"] = code
	}
	return obj{"error": e}
}

// chatRequest is what the client sends in the chat interactions.
func chatRequest() client.ChatRequest {
	maxTokens := 16
	return client.ChatRequest{Model: "gpt-4o-mini", Messages: []client.Message{client.Text("user", "Say hello")}, MaxTokens: &maxTokens}
}

// chatRequestBody is chatRequest as JSON, written out so the contract reads on its own.
var chatRequestBody = obj{
	"model":      "gpt-4o-mini",
	"messages":   []any{obj{"role": "user", "content": "Say hello"}},
	"max_tokens": 16,
}

// streamExample is the SSE body the mock serves for /v1/chat/stream; streamPatterns are what
// the provider's actual body must match, each one property: only data events ending with
// [DONE]; a first chunk of the asked model with an id, created time and the assistant role; a
// priced usage chunk right before [DONE].
const streamExample = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" there."},"finish_reason":null}]}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"cost_usd":0.0000032}}

data: [DONE]

`

var streamPatterns = []string{
	`(data: \{[^\n]*\}\n\n)+data: \[DONE\]\n\n`,
	pactkit.Prefix(`data: \{[^\n]*"object":"chat\.completion\.chunk"`),
	pactkit.Prefix(`data: \{[^\n]*"id":"[^"]+"`),
	pactkit.Prefix(`data: \{[^\n]*"created":[0-9]+[,}]`),
	pactkit.Prefix(`data: \{[^\n]*"model":"gpt-4o-mini"`),
	pactkit.Prefix(`data: \{[^\n]*"delta":\{[^\n]*"role":"assistant"`),
	pactkit.Suffix(`data: \{[^\n]*"usage":\{[^\n]*"total_tokens":[0-9]+[^\n]*\}\n\ndata: \[DONE\]\n\n`),
	pactkit.Suffix(`data: \{[^\n]*"usage":\{[^\n]*"cost_usd":[0-9][^\n]*\}\n\ndata: \[DONE\]\n\n`),
}

// checkPatterns fails when the example a mock serves breaks a pattern the provider is held to.
// Like Pact, it requires each pattern to match the whole body (see pactkit.Prefix).
func checkPatterns(t *testing.T, example string, patterns []string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`^(?:` + p + `)$`).MatchString(example) {
			t.Fatalf("the example body does not match %s", p)
		}
	}
}

// clientCase is one interaction of the client contract: how it is declared, and how the client
// exercises it against the mock (with assertions on what the client decoded).
type clientCase struct {
	name    string
	declare func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse
	run     func(ctx context.Context, c *client.Client) error
}

func TestClientContract(t *testing.T) {
	checkPatterns(t, streamExample, streamPatterns)
	cases := []clientCase{
		{
			name: "chat",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.Given(pactkit.StateUpstreamHealthy).
					UponReceiving("a chat request").
					WithRequest(http.MethodPost, "/v1/chat", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).JSONBody(chatRequestBody)
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							Header("X-Request-Id", requestID).
							Header("X-Cost-USD", costHeader).
							JSONBody(obj{
								"id":      match.Like("chatcmpl-1"),
								"object":  "chat.completion",
								"created": match.Integer(1700000000),
								"model":   "gpt-4o-mini",
								"choices": match.EachLike(obj{
									"index":         match.Integer(0),
									"message":       obj{"role": match.Equality("assistant"), "content": match.Like("Hello there.")},
									"finish_reason": finishReason,
								}, 1),
								"usage": obj{
									"prompt_tokens":     match.Integer(9),
									"completion_tokens": match.Integer(3),
									"total_tokens":      match.Integer(12),
									"cost_usd":          costUSD,
								},
							})
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				resp, raw, err := c.Chat(ctx, chatRequest())
				if err != nil {
					return err
				}
				if resp.Object != "chat.completion" || len(resp.Choices) != 1 || resp.Choices[0].Message.Content == nil ||
					*resp.Choices[0].Message.Content == "" || resp.Choices[0].Message.Role != "assistant" {
					return fmt.Errorf("unexpected completion: %+v", resp)
				}
				if resp.Usage == nil || resp.Usage.CostUSD == nil || resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
					return fmt.Errorf("usage missing or inconsistent: %+v", resp.Usage)
				}
				if _, err := strconv.ParseFloat(raw.Header.Get("X-Cost-USD"), 64); err != nil {
					return fmt.Errorf("X-Cost-USD: %w", err)
				}
				return nil
			},
		},
		{
			name: "stream",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.Given(pactkit.StateUpstreamHealthy).
					UponReceiving("a streaming chat request").
					WithRequest(http.MethodPost, "/v1/chat/stream", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).
							Header("Accept", match.S("text/event-stream")).
							JSONBody(chatRequestBody)
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", sseContentType).
							Header("Cache-Control", match.S("no-cache")).
							Header("X-Request-Id", requestID).
							Body("text/event-stream", []byte(streamExample))
						if err := pactkit.ResponseBodyRegex(b, streamPatterns...); err != nil {
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
				if len(evs) < 3 || !evs[len(evs)-1].Done {
					return fmt.Errorf("stream did not end with [DONE]: %d events", len(evs))
				}
				first := evs[0].Chunk
				if first == nil || first.Object != "chat.completion.chunk" || len(first.Choices) == 0 || first.Choices[0].Delta.Role != "assistant" {
					return fmt.Errorf("first event is not an assistant chunk: %s", evs[0].Data)
				}
				if got := client.StreamText(evs); got != "Hello there." {
					return fmt.Errorf("stream text %q", got)
				}
				last := evs[len(evs)-2].Chunk
				if last == nil || last.Usage == nil || last.Usage.CostUSD == nil {
					return fmt.Errorf("no priced usage chunk before [DONE]: %s", evs[len(evs)-2].Data)
				}
				return nil
			},
		},
		{
			name: "images",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.Given(pactkit.StateUpstreamHealthy).
					UponReceiving("an image generation request").
					WithRequest(http.MethodPost, "/v1/images", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).
							JSONBody(obj{"prompt": "a lighthouse at dusk", "model": "gpt-image-1", "size": "1024x1024", "quality": "low"})
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							Header("X-Cost-USD", costHeader).
							JSONBody(obj{
								"created": match.Integer(1700000000),
								"data":    match.EachLike(obj{"b64_json": match.Regex("iVBORw0KGgo=", `^[A-Za-z0-9+/]+={0,2}$`)}, 1),
								"usage":   obj{"images": 1, "cost_usd": costUSD},
							})
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				resp, _, err := c.Images(ctx, client.ImageRequest{Prompt: "a lighthouse at dusk", Model: "gpt-image-1", Size: "1024x1024", Quality: "low"})
				if err != nil {
					return err
				}
				if len(resp.Data) != 1 || resp.Data[0].B64JSON == "" || resp.Usage == nil || resp.Usage.Images != 1 || resp.Usage.CostUSD == nil {
					return fmt.Errorf("unexpected images answer: %+v", resp)
				}
				return nil
			},
		},
		{
			name: "agents list",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.Given(pactkit.StateAgentCalculator).
					UponReceiving("a request for the agent list").
					WithRequest(http.MethodGet, "/v1/agents").
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							JSONBody(obj{"object": "list", "data": match.EachLike(agentBody(), 1)})
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				list, _, err := c.Agents(ctx)
				if err != nil {
					return err
				}
				if list.Object != "list" || len(list.Data) == 0 || list.Data[0].ID == "" || len(list.Data[0].Tools) == 0 {
					return fmt.Errorf("unexpected agent list: %+v", list)
				}
				return nil
			},
		},
		{
			name: "agent",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				a := agentBody()
				a["id"] = "calculator"
				return i.Given(pactkit.StateAgentCalculator).
					UponReceiving("a request for the calculator agent").
					WithRequest(http.MethodGet, "/v1/agents/calculator").
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).JSONBody(a)
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				a, _, err := c.Agent(ctx, "calculator")
				if err != nil {
					return err
				}
				if a.ID != "calculator" || a.Object != "agent" || a.MaxSteps < 1 {
					return fmt.Errorf("unexpected agent: %+v", a)
				}
				return nil
			},
		},
		{
			name: "agent run",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.Given(pactkit.StateAgentCalculator).
					UponReceiving("a run of the calculator agent").
					WithRequest(http.MethodPost, "/v1/agents/calculator/runs", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).JSONBody(obj{"input": "What is 6 * 7?"})
					}).
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							Header("X-Cost-USD", costHeader).
							JSONBody(obj{
								"id":       match.Regex("run_1700000000000000000", `^run_[0-9a-f]+$`),
								"object":   "agent.run",
								"agent_id": "calculator",
								"model":    match.Like("gpt-4o-mini"),
								"status":   "completed",
								"output":   match.Like("The result is 42."),
								"steps": match.EachLike(obj{
									"index":     match.Integer(0),
									"tool":      match.Equality("calculator"),
									"arguments": match.Like(`{"expression":"6 * 7"}`),
									"result":    match.Like("42"),
								}, 1),
								"usage": obj{
									"prompt_tokens":     match.Integer(60),
									"completion_tokens": match.Integer(12),
									"total_tokens":      match.Integer(72),
									"cost_usd":          costUSD,
								},
								"created": match.Integer(1700000000),
							})
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				run, _, err := c.RunAgent(ctx, "calculator", "What is 6 * 7?")
				if err != nil {
					return err
				}
				if run.Status != "completed" || run.AgentID != "calculator" || len(run.Steps) == 0 || run.Steps[0].Tool != "calculator" || run.Output == "" {
					return fmt.Errorf("unexpected run: %+v", run)
				}
				return nil
			},
		},
		{
			name: "models",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.UponReceiving("a request for the model list").
					WithRequest(http.MethodGet, "/v1/models").
					WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							JSONBody(obj{"object": "list", "data": match.EachLike(obj{
								"id":       match.Like("gpt-4o-mini"),
								"object":   match.Equality("model"),
								"created":  match.Integer(1700000000),
								"owned_by": match.Like("sim"),
							}, 1)})
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				list, _, err := c.Models(ctx)
				if err != nil {
					return err
				}
				if list.Object != "list" || len(list.Data) == 0 || list.Data[0].ID == "" {
					return fmt.Errorf("unexpected model list: %+v", list)
				}
				return nil
			},
		},
		probeCase("health", "a liveness probe", "/healthz", "ok", (*client.Client).Health),
		probeCase("readiness", "a readiness probe", "/readyz", "ready", (*client.Client).Ready),
		{
			name: "malformed",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.UponReceiving("a chat request whose messages are not an array").
					WithRequest(http.MethodPost, "/v1/chat", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).JSONBody(malformedBody)
					}).
					WillRespondWith(http.StatusBadRequest, func(b *consumer.V4ResponseBuilder) {
						e := errorBody("invalid_request_error", nil, "messages must be an array, not string.")
						// param names the offending field, so a client can point at it.
						e["error"].(obj)["param"] = "messages"
						b.Header("Content-Type", jsonContentType).
							Header("X-Request-Id", requestID).
							JSONBody(e)
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				body, _ := json.Marshal(malformedBody)
				resp, err := c.Do(ctx, http.MethodPost, "/v1/chat", "application/json", body)
				if err != nil {
					return err
				}
				return expectError(resp, http.StatusBadRequest, "invalid_request_error")
			},
		},
		{
			name: "unauthenticated",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.Given(pactkit.StateAPIKeysRequired).
					UponReceiving("a chat request without an API key").
					WithRequest(http.MethodPost, "/v1/chat", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).JSONBody(chatRequestBody)
					}).
					WillRespondWith(http.StatusUnauthorized, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							Header("WWW-Authenticate", match.Regex(`Bearer realm="aiservice"`, `^Bearer( .*)?$`)).
							JSONBody(errorBody("authentication_error", "invalid_api_key", "Missing or invalid API key."))
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				_, _, err := c.Chat(ctx, chatRequest())
				var ae *client.APIError
				if !errors.As(err, &ae) {
					return fmt.Errorf("want an API error, got %v", err)
				}
				if err := expectError(&ae.Response, http.StatusUnauthorized, "authentication_error"); err != nil {
					return err
				}
				if !strings.HasPrefix(ae.Header.Get("WWW-Authenticate"), "Bearer") {
					return fmt.Errorf("WWW-Authenticate %q", ae.Header.Get("WWW-Authenticate"))
				}
				return nil
			},
		},
		{
			name: "upstream failure",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.Given(pactkit.StateUpstreamFailing).
					UponReceiving("a chat request while the upstream is failing").
					WithRequest(http.MethodPost, "/v1/chat", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).JSONBody(chatRequestBody)
					}).
					WillRespondWith(http.StatusBadGateway, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							JSONBody(errorBody("upstream_error", nil, "The upstream failed."))
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				_, _, err := c.Chat(ctx, chatRequest())
				var ae *client.APIError
				if !errors.As(err, &ae) {
					return fmt.Errorf("want an API error, got %v", err)
				}
				return expectError(&ae.Response, http.StatusBadGateway, "upstream_error")
			},
		},
		{
			name: "unknown agent",
			declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
				return i.UponReceiving("a run of an agent that does not exist").
					WithRequest(http.MethodPost, "/v1/agents/no-such-agent/runs", func(b *consumer.V4RequestBuilder) {
						b.Header("Content-Type", match.S("application/json")).JSONBody(obj{"input": "hello"})
					}).
					WillRespondWith(http.StatusNotFound, func(b *consumer.V4ResponseBuilder) {
						b.Header("Content-Type", jsonContentType).
							JSONBody(errorBody("not_found_error", "agent_not_found", `No agent with id "no-such-agent".`))
					})
			},
			run: func(ctx context.Context, c *client.Client) error {
				_, _, err := c.RunAgent(ctx, "no-such-agent", "hello")
				var ae *client.APIError
				if !errors.As(err, &ae) {
					return fmt.Errorf("want an API error, got %v", err)
				}
				return expectError(&ae.Response, http.StatusNotFound, "not_found_error")
			},
		},
	}
	runClientCases(t, cases)
}

// runClientCases runs each case as its own interaction of the client contract.
func runClientCases(t *testing.T, cases []clientCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPact(t, pactkit.ClientConsumer, pactkit.Service)
			err := tc.declare(t, p.AddInteraction()).ExecuteTest(t, func(cfg consumer.MockServerConfig) error {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return tc.run(ctx, client.New(mockURL(cfg)))
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// malformedBody is valid JSON of the wrong shape: messages must be an array. (Pact parses JSON
// bodies on both sides, so a contract cannot carry syntactically broken JSON.)
var malformedBody = obj{"model": "gpt-4o-mini", "messages": "Say hello"}

// agentBody is one entry of the agent list.
// probeCase is the interaction of a health endpoint that answers {"status": want}.
func probeCase(name, what, path, want string, probe func(*client.Client, context.Context) (*client.Status, *client.Response, error)) clientCase {
	return clientCase{
		name: name,
		declare: func(t *testing.T, i *consumer.V4UnconfiguredInteraction) *consumer.V4InteractionWithResponse {
			return i.UponReceiving(what).
				WithRequest(http.MethodGet, path).
				WillRespondWith(http.StatusOK, func(b *consumer.V4ResponseBuilder) {
					b.Header("Content-Type", jsonContentType).JSONBody(obj{"status": want})
				})
		},
		run: func(ctx context.Context, c *client.Client) error {
			s, _, err := probe(c, ctx)
			if err == nil && s.Status != want {
				err = fmt.Errorf("status %q", s.Status)
			}
			return err
		},
	}
}

func agentBody() obj {
	return obj{
		"id":          match.Like("calculator"),
		"object":      match.Equality("agent"),
		"description": match.Like("Answers arithmetic questions with the calculator tool."),
		"model":       match.Like("gpt-4o-mini"),
		"tools":       match.EachLike("calculator", 1),
		"max_steps":   match.Integer(5),
	}
}

// expectError checks an error answer's status and OpenAI error type as the client decodes them.
func expectError(resp *client.Response, status int, typ string) error {
	if resp.Status != status {
		return fmt.Errorf("status %d, want %d: %s", resp.Status, status, resp.Body)
	}
	ae := &client.APIError{Response: *resp}
	if err := json.Unmarshal(resp.Body, &ae.Body); err != nil {
		return err
	}
	if ae.Body.Error.Type != typ || ae.Body.Error.Message == "" {
		return fmt.Errorf("error body %s, want type %s with a message", resp.Body, typ)
	}
	return nil
}
