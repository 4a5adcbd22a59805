package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"aiservice/harness/launch"
)

// TestOfficialSDKResponses drives the Responses API with the official openai-go client —
// create, continue with previous_response_id, stream, tools, structured output, retrieve and
// delete — on a model of each dialect.
func TestOfficialSDKResponses(t *testing.T) {
	svc := launch.MustStartService(t, launch.Options{Config: launch.BothDialects})
	client := openai.NewClient(option.WithBaseURL(svc.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	for _, model := range launch.DialectModels {
		t.Run(model, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			sdkConversation(ctx, t, client, model)
			sdkStream(ctx, t, client, model)
			sdkTools(ctx, t, client, model)
			sdkStructured(ctx, t, client, model)
		})
	}
}

func sdkConversation(ctx context.Context, t *testing.T, client openai.Client, model string) {
	first, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: model, Instructions: openai.String("Be brief."),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Hello there")}})
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != responses.ResponseStatusCompleted || first.OutputText() == "" || first.Usage.InputTokens == 0 || first.Model != model {
		t.Fatalf("first = %+v", first)
	}
	next, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: model, PreviousResponseID: openai.String(first.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("And again")}})
	if err != nil {
		t.Fatal(err)
	}
	if next.PreviousResponseID != first.ID || next.Usage.InputTokens <= first.Usage.InputTokens {
		t.Errorf("the continuation did not carry the conversation: previous %q, input tokens %d after %d",
			next.PreviousResponseID, next.Usage.InputTokens, first.Usage.InputTokens)
	}
	got, err := client.Responses.Get(ctx, first.ID, responses.ResponseGetParams{})
	if err != nil || got.OutputText() != first.OutputText() {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	items, err := client.Responses.InputItems.List(ctx, first.ID, responses.InputItemListParams{})
	if err != nil || len(items.Data) != 1 {
		t.Fatalf("input items = %+v, %v", items, err)
	}
	if err := client.Responses.Delete(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	_, err = client.Responses.Get(ctx, first.ID, responses.ResponseGetParams{})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Fatalf("Get after Delete: %v", err)
	}
}

func sdkStream(ctx context.Context, t *testing.T, client openai.Client, model string) {
	stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: model,
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Tell me a story")}})
	var text string
	var completed *responses.Response
	seq := int64(-1)
	for stream.Next() {
		ev := stream.Current()
		if ev.SequenceNumber != seq+1 {
			t.Errorf("%s: sequence_number %d after %d", ev.Type, ev.SequenceNumber, seq)
		}
		seq = ev.SequenceNumber
		switch ev.Type {
		case "response.output_text.delta":
			text += ev.Delta
		case "response.completed":
			r := ev.AsResponseCompleted().Response
			completed = &r
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if completed == nil || completed.OutputText() != text || text == "" || completed.Usage.TotalTokens == 0 {
		t.Fatalf("streamed %q; completed %+v", text, completed)
	}
}

func sdkTools(ctx context.Context, t *testing.T, client openai.Client, model string) {
	weather := responses.ToolParamOfFunction("get_weather", map[string]any{"type": "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}, false)
	r, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: model, Tools: []responses.ToolUnionParam{weather},
		ToolChoice: responses.ResponseNewParamsToolChoiceUnion{OfToolChoiceMode: openai.Opt(responses.ToolChoiceOptionsRequired)},
		Input:      responses.ResponseNewParamsInputUnion{OfString: openai.String("What is the weather in Paris?")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Output) != 1 || r.Output[0].Type != "function_call" || r.Output[0].Name != "get_weather" {
		t.Fatalf("output = %+v", r.Output)
	}
	call := r.Output[0].AsFunctionCall()
	var args map[string]any
	if err := json.Unmarshal([]byte(call.Arguments), &args); err != nil || args["city"] == nil {
		t.Fatalf("arguments %q: %v", call.Arguments, err)
	}
	out := responses.ResponseInputItemParamOfFunctionCallOutput("sunny, 21 C")
	out.OfFunctionCallOutput.CallID = openai.String(call.CallID)
	follow, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: model, PreviousResponseID: openai.String(r.ID),
		Tools: []responses.ToolUnionParam{weather}, Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{out}}})
	if err != nil {
		t.Fatal(err)
	}
	if follow.OutputText() == "" {
		t.Fatalf("after the tool result: %+v", follow.Output)
	}
}

func sdkStructured(ctx context.Context, t *testing.T, client openai.Client, model string) {
	r, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: model,
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Describe a user")},
		Text: responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{
			Name: "user", Strict: openai.Bool(true), Schema: map[string]any{"type": "object", "additionalProperties": false,
				"required": []string{"name", "age"}, "properties": map[string]any{"name": map[string]any{"type": "string"},
					"age": map[string]any{"type": "integer", "minimum": 0, "maximum": 150}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var user struct {
		Name *string `json:"name"`
		Age  *int    `json:"age"`
	}
	if err := json.Unmarshal([]byte(r.OutputText()), &user); err != nil || user.Name == nil || user.Age == nil || *user.Age < 0 || *user.Age > 150 {
		t.Fatalf("structured output %q: %v", r.OutputText(), err)
	}
}
