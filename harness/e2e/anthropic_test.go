package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	gwclient "aiservice/harness/client"
	"aiservice/harness/launch"
)

// anthropicConfig serves a model on the simulator's Messages dialect beside the OpenAI ones.
const anthropicConfig = `
providers:
  - {name: sim, type: sim}
  - {name: sim-anthropic, type: sim, dialect: anthropic}
models:
  - {name: gpt-4o-mini, provider: sim}
  - {name: claude-sonnet-4-5, provider: sim-anthropic}
`

// TestAnthropicSDKAgainstTheGateway: Anthropic's Go SDK, only its base URL swapped, on a model
// whose upstream speaks Messages (passed through) and on one whose upstream speaks OpenAI's
// chat completions (translated both ways) — the same checks as against the simulator itself.
func TestAnthropicSDKAgainstTheGateway(t *testing.T) {
	svc := launch.MustStartService(t, launch.Options{Config: anthropicConfig, Args: []string{"--api-keys", "sk-ant-e2e"}})
	for _, model := range []anthropic.Model{"claude-sonnet-4-5", "gpt-4o-mini"} {
		t.Run(string(model), func(t *testing.T) { exerciseAnthropicSDK(t, svc.URL, "sk-ant-e2e", model) })
	}
	t.Run("errors", func(t *testing.T) {
		client := anthropic.NewClient(aoption.WithBaseURL(svc.URL), aoption.WithAPIKey("sk-ant-e2e"), aoption.WithMaxRetries(0))
		ask := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hi"))}
		for _, tc := range []struct {
			name   string
			params anthropic.MessageNewParams
			status int
		}{
			{"unknown model", anthropic.MessageNewParams{Model: "claude-nope", MaxTokens: 10, Messages: ask}, 404},
			{"thinking to an OpenAI upstream", anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 2000, Messages: ask,
				Thinking: anthropic.ThinkingConfigParamOfEnabled(1024)}, 400},
			{"no messages", anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 10, Messages: []anthropic.MessageParam{}}, 400},
		} {
			_, err := client.Messages.New(context.Background(), tc.params)
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status {
				t.Errorf("%s: %v, want an *anthropic.Error with status %d", tc.name, err, tc.status)
			}
		}
	})
}

// TestOpenAISDKOnAnthropicUpstream: the official OpenAI SDK on a model served by an
// Anthropic-dialect upstream — chat, a stream with usage, and a tool call with its result.
func TestOpenAISDKOnAnthropicUpstream(t *testing.T) {
	svc := launch.MustStartService(t, launch.Options{Config: anthropicConfig})
	client := openai.NewClient(option.WithBaseURL(svc.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	model := "claude-sonnet-4-5"

	hello := []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("Say hello")}
	resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Messages: hello})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != model || resp.Choices[0].Message.Content == "" || resp.Choices[0].FinishReason != "stop" || resp.Usage.PromptTokens == 0 {
		t.Errorf("chat = %+v", resp)
	}

	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: model,
		Messages: hello, StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].Message.Content != resp.Choices[0].Message.Content || acc.Usage.CompletionTokens == 0 {
		t.Errorf("streamed %q (usage %+v), want %q", acc.Choices[0].Message.Content, acc.Usage, resp.Choices[0].Message.Content)
	}

	tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "get_weather",
		Description: openai.String("Current weather for a city"),
		Parameters:  openai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}})}
	ask := openai.UserMessage("What is the weather in Lisbon today?")
	turn, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{ask}, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	calls := turn.Choices[0].Message.ToolCalls
	if turn.Choices[0].FinishReason != "tool_calls" || len(calls) != 1 || calls[0].Function.Name != "get_weather" || !strings.Contains(calls[0].Function.Arguments, "city") {
		t.Fatalf("tool turn = %+v", turn.Choices[0])
	}
	final, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Tools: tools,
		Messages: []openai.ChatCompletionMessageParamUnion{ask, turn.Choices[0].Message.ToParam(), openai.ToolMessage("19 C, clear", calls[0].ID)}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(final.Choices[0].Message.Content, "19 C, clear") {
		t.Errorf("after the tool result: %+v", final.Choices[0].Message)
	}

	stream = client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{ask}, Tools: tools})
	acc = openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if tc := acc.Choices[0].Message.ToolCalls; len(tc) != 1 || tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != calls[0].Function.Arguments {
		t.Errorf("streamed tool calls %+v, want %+v", tc, calls)
	}
}

// TestOpenAISDKResponsesOnAnthropicUpstream: the official OpenAI SDK's Responses API on a model
// served by an Anthropic-dialect upstream (Responses → chat by the gateway, chat → Messages by the
// provider) — create and continue, a stream, and a function tool with its result — the same
// checks as on the OpenAI dialect's models (TestOfficialSDKResponses).
func TestOpenAISDKResponsesOnAnthropicUpstream(t *testing.T) {
	svc := launch.MustStartService(t, launch.Options{Config: anthropicConfig})
	client := openai.NewClient(option.WithBaseURL(svc.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sdkConversation(ctx, t, client, "claude-sonnet-4-5")
	sdkStream(ctx, t, client, "claude-sonnet-4-5")
	sdkTools(ctx, t, client, "claude-sonnet-4-5")
	sdkStructuredRefused(ctx, t, client, "claude-sonnet-4-5")
	// Every create went to the Anthropic-dialect upstream: two for the conversation, the stream,
	// two for the tool call and its result (retrieving and deleting call no upstream).
	series := `cost_provider_api_calls_total{model="claude-sonnet-4-5",outcome="success",provider="sim-anthropic"}`
	if n := scrape(t, gwclient.New(svc.URL))[series]; n != 5 {
		t.Errorf("%s = %v, want 5", series, n)
	}
}

// sdkStructuredRefused: a json_schema the Messages API cannot take is a 400 naming the field the
// client sent (text.format), not the chat field it was translated to, plain and streamed.
func sdkStructuredRefused(ctx context.Context, t *testing.T, client openai.Client, model string) {
	params := responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Describe a user")},
		Text: responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{
			Name: "user", Schema: map[string]any{"type": "object"}}}}}
	_, err := client.Responses.New(ctx, params)
	stream := client.Responses.NewStreaming(ctx, params)
	for stream.Next() {
	}
	for name, err := range map[string]error{"create": err, "stream": stream.Err()} {
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "text.format" || !strings.HasPrefix(apiErr.Message, "text.format ") {
			t.Errorf("%s with a json_schema on %s: %v (param %q)", name, model, err, paramOf(apiErr))
		}
	}
}

func paramOf(e *openai.Error) string {
	if e == nil {
		return ""
	}
	return e.Param
}
