package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"aiservice/harness/launch"
)

// TestSimulatorSpeaksAnthropicToTheOfficialSDK: the simulator's Messages dialect is read
// without complaint by Anthropic's own Go SDK — create, stream (accumulated), a tool-use turn
// and its result, count_tokens, and errors as the SDK's *anthropic.Error with their status.
func TestSimulatorSpeaksAnthropicToTheOfficialSDK(t *testing.T) {
	sim := launch.MustStartSim(t, launch.Options{Args: []string{"--api-key", "sk-ant-test"}})
	exerciseAnthropicSDK(t, sim.URL, "sk-ant-test", "claude-sonnet-4-5")
}

// exerciseAnthropicSDK runs Anthropic's Go SDK against a Messages server at baseURL that
// wants key, on model.
func exerciseAnthropicSDK(t *testing.T, baseURL, key string, model anthropic.Model) {
	t.Helper()
	client := anthropic.NewClient(option.WithBaseURL(baseURL), option.WithAPIKey(key), option.WithMaxRetries(0))
	ctx := context.Background()
	ask := anthropic.NewUserMessage(anthropic.NewTextBlock("What is the weather in Lisbon today?"))

	msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{Model: model, MaxTokens: 200, Messages: []anthropic.MessageParam{ask}})
	if err != nil {
		t.Fatal(err)
	}
	if msg.StopReason != anthropic.StopReasonEndTurn || len(msg.Content) != 1 || msg.Content[0].Type != "text" || msg.Content[0].Text == "" || msg.Usage.OutputTokens <= 0 {
		t.Fatalf("message = %+v", msg)
	}

	stream := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: model, MaxTokens: 200, Messages: []anthropic.MessageParam{ask}})
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Content) != 1 || acc.Content[0].Text != msg.Content[0].Text || acc.StopReason != anthropic.StopReasonEndTurn {
		t.Errorf("streamed %+v, want the same text as created: %q", acc.Content, msg.Content[0].Text)
	}

	weather := anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: "get_weather", Description: anthropic.String("Current weather for a city"),
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}}}
	params := anthropic.MessageNewParams{Model: model, MaxTokens: 200, Messages: []anthropic.MessageParam{ask}, Tools: []anthropic.ToolUnionParam{weather}}
	for _, streamed := range []bool{false, true} {
		var turn *anthropic.Message
		if streamed {
			s := client.Messages.NewStreaming(ctx, params)
			turn = &anthropic.Message{}
			for s.Next() {
				if err := turn.Accumulate(s.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
		} else if turn, err = client.Messages.New(ctx, params); err != nil {
			t.Fatal(err)
		}
		if turn.StopReason != anthropic.StopReasonToolUse || len(turn.Content) != 1 || turn.Content[0].Type != "tool_use" || turn.Content[0].Name != "get_weather" ||
			!strings.Contains(string(turn.Content[0].Input), `"city"`) {
			t.Fatalf("streamed %v: tool turn = %+v", streamed, turn.Content)
		}
		follow := params
		follow.Messages = []anthropic.MessageParam{ask, turn.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(turn.Content[0].ID, "19 C, clear", false))}
		final, err := client.Messages.New(ctx, follow)
		if err != nil {
			t.Fatal(err)
		}
		if final.StopReason != anthropic.StopReasonEndTurn || !strings.Contains(final.Content[0].Text, "19 C, clear") {
			t.Errorf("after the tool result: %+v", final.Content)
		}
	}

	count, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: model, Messages: []anthropic.MessageParam{ask}})
	if err != nil || count.InputTokens <= 0 {
		t.Fatalf("count_tokens = %+v, %v", count, err)
	}

	wrong := anthropic.NewClient(option.WithBaseURL(baseURL), option.WithAPIKey("wrong"), option.WithMaxRetries(0))
	_, err = wrong.Messages.New(ctx, anthropic.MessageNewParams{Model: model, MaxTokens: 10, Messages: []anthropic.MessageParam{ask}})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Errorf("wrong key: %v, want an *anthropic.Error with status 401", err)
	}
}
