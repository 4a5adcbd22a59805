package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"aiservice/harness/launch"
)

// TestOfficialOpenAISDK points the official openai-go client at the gateway by changing only
// its base URL, as a user would.
func TestOfficialOpenAISDK(t *testing.T) {
	svc := launch.MustStartService(t, launch.Options{Args: []string{"--api-keys", "sk-test-e2e"}})
	client := openai.NewClient(option.WithBaseURL(svc.URL+"/v1/"), option.WithAPIKey("sk-test-e2e"), option.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("chat", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("Say hello")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Object != "chat.completion" || resp.Model != "gpt-4o-mini" || resp.Choices[0].Message.Content == "" ||
			resp.Choices[0].FinishReason != "stop" || resp.Usage.PromptTokens == 0 || resp.Usage.CompletionTokens == 0 {
			t.Errorf("response = %+v", resp)
		}
	})

	t.Run("streaming chat with usage", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "gpt-4o-mini",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me something")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		acc := openai.ChatCompletionAccumulator{}
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if chunks < 3 || acc.Choices[0].Message.Content == "" || acc.Usage.TotalTokens == 0 {
			t.Errorf("chunks=%d content=%q usage=%+v", chunks, acc.Choices[0].Message.Content, acc.Usage)
		}
	})

	t.Run("tools round trip", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is 6 * 7?")},
			Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
				Name:       "calculator",
				Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"expression": map[string]any{"type": "string"}}},
			})},
		})
		if err != nil {
			t.Fatal(err)
		}
		calls := resp.Choices[0].Message.ToolCalls
		if len(calls) != 1 || calls[0].Function.Name != "calculator" || !strings.Contains(calls[0].Function.Arguments, "6 * 7") {
			t.Fatalf("tool calls = %+v", calls)
		}
	})

	t.Run("images", func(t *testing.T) {
		resp, err := client.Images.Generate(ctx, openai.ImageGenerateParams{
			Prompt: "a lighthouse at dusk", Model: "gpt-image-1", Size: "512x512", N: openai.Int(1),
		})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(resp.Data[0].B64JSON)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil || img.Bounds().Dx() != 512 || img.Bounds().Dy() != 512 {
			t.Errorf("image: %v, bounds %v", err, img.Bounds())
		}
	})

	t.Run("models", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, m := range page.Data {
			ids[m.ID] = true
		}
		if !ids["gpt-4o-mini"] || !ids["gpt-4o"] || !ids["gpt-image-1"] {
			t.Errorf("models = %v", ids)
		}
	})

	t.Run("errors surface as SDK errors", func(t *testing.T) {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "no-such-model", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		})
		var apiErr *openai.Error
		if !asError(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
			t.Fatalf("err = %v", err)
		}
		bad := openai.NewClient(option.WithBaseURL(svc.URL+"/v1/"), option.WithAPIKey("wrong"), option.WithMaxRetries(0))
		_, err = bad.Models.List(ctx)
		if !asError(err, &apiErr) || apiErr.StatusCode != 401 {
			t.Fatalf("wrong key: err = %v", err)
		}
	})

	if strings.Contains(svc.Logs(), "sk-test-e2e") {
		t.Error("the API key appears in the service's logs")
	}
}
