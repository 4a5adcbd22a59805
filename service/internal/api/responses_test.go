package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"aiservice/service/internal/sim"
)

// response is what the tests read of a response object.
type response struct {
	ID                 string  `json:"id"`
	Object             string  `json:"object"`
	Status             string  `json:"status"`
	Model              string  `json:"model"`
	OutputText         string  `json:"output_text"`
	PreviousResponseID *string `json:"previous_response_id"`
	Output             []struct {
		Type      string `json:"type"`
		ID        string `json:"id"`
		Name      string `json:"name"`
		CallID    string `json:"call_id"`
		Arguments string `json:"arguments"`
		Content   []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	} `json:"output"`
	Usage *struct {
		InputTokens  int      `json:"input_tokens"`
		OutputTokens int      `json:"output_tokens"`
		TotalTokens  int      `json:"total_tokens"`
		CostUSD      *float64 `json:"cost_usd"`
	} `json:"usage"`
	Error *struct{ Code, Message string } `json:"error"`
}

func decodeResponse(t *testing.T, r result) response {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var out response
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("not a response: %v\n%s", err, r.body)
	}
	return out
}

// bothPaths serves gpt-4o-mini through the chat dialect (translated) and gpt-4o-r from an
// upstream that speaks Responses (passed through): the same simulator behind both.
const bothPaths = `
providers:
  - {name: sim, type: sim}
  - {name: simr, type: sim, api: responses}
models:
  - {name: gpt-4o-mini, provider: sim}
  - {name: gpt-4o-r, provider: simr, upstream_model: gpt-4o-mini}
prices:
  gpt-4o-r: {input_per_1m: 0.15, output_per_1m: 0.60}
`

// paths runs a test for a model of each dialect.
func paths(t *testing.T, test func(t *testing.T, f *fixture, model func(body string) string)) {
	f := newFixture(t, bothPaths)
	for _, m := range []string{"gpt-4o-mini", "gpt-4o-r"} {
		t.Run(m, func(t *testing.T) {
			test(t, f, func(body string) string { return `{"model":"` + m + `",` + strings.TrimPrefix(body, "{") })
		})
	}
}

func TestResponsesCreateAndContinue(t *testing.T) { paths(t, testCreateAndContinue) }

func testCreateAndContinue(t *testing.T, f *fixture, model func(string) string) {
	first := decodeResponse(t, f.post("/v1/responses", model(`{"input":"Hello there","instructions":"Be brief"}`)))
	if first.Object != "response" || first.Status != "completed" || !strings.HasPrefix(first.ID, "resp_") || first.OutputText == "" {
		t.Fatalf("first = %+v", first)
	}
	if first.Usage == nil || first.Usage.InputTokens == 0 || first.Usage.CostUSD == nil || *first.Usage.CostUSD <= 0 {
		t.Fatalf("usage = %+v", first.Usage)
	}
	second := decodeResponse(t, f.post("/v1/responses", model(`{"input":"And again","previous_response_id":"`+first.ID+`"}`)))
	if second.PreviousResponseID == nil || *second.PreviousResponseID != first.ID {
		t.Fatalf("previous_response_id = %v", second.PreviousResponseID)
	}
	// The continuation sends the whole conversation: more input tokens than the new text alone.
	alone := decodeResponse(t, f.post("/v1/responses", model(`{"input":"And again","store":false}`)))
	if second.Usage.InputTokens <= alone.Usage.InputTokens {
		t.Errorf("continued input_tokens %d, alone %d: the conversation was not sent", second.Usage.InputTokens, alone.Usage.InputTokens)
	}

	// An item_reference (the AI SDK sends them for stored turns) stands for the item it names.
	ref := decodeResponse(t, f.post("/v1/responses", model(`{"store":false,"input":[{"type":"item_reference","id":"`+first.Output[0].ID+`"},{"role":"user","content":"And again"}]}`)))
	if ref.Usage.InputTokens <= alone.Usage.InputTokens {
		t.Errorf("with the referenced item input_tokens %d, alone %d", ref.Usage.InputTokens, alone.Usage.InputTokens)
	}
	got := decodeResponse(t, f.do(http.MethodGet, "/v1/responses/"+first.ID, "", ""))
	if got.ID != first.ID || got.OutputText != first.OutputText {
		t.Errorf("GET = %+v, want %+v", got, first)
	}
	items := f.do(http.MethodGet, "/v1/responses/"+first.ID+"/input_items", "", "")
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			Type, ID, Role string
			Content        json.RawMessage
		} `json:"data"`
		HasMore bool `json:"has_more"`
	}
	if err := json.Unmarshal(items.body, &list); err != nil || list.Object != "list" || len(list.Data) != 1 || list.Data[0].Role != "user" || list.Data[0].ID == "" {
		t.Fatalf("input_items = %s (%v)", items.body, err)
	}

	del := f.do(http.MethodDelete, "/v1/responses/"+first.ID, "", "")
	if del.status != http.StatusOK || del.json(t)["deleted"] != true {
		t.Fatalf("DELETE: %d %s", del.status, del.body)
	}
	gone := []result{
		f.do(http.MethodGet, "/v1/responses/"+first.ID, "", ""),
		f.do(http.MethodDelete, "/v1/responses/"+first.ID, "", ""),
		f.do(http.MethodGet, "/v1/responses/"+first.ID+"/input_items", "", ""),
		f.do(http.MethodGet, "/v1/responses/"+alone.ID, "", ""), // store: false
	}
	// A chat upstream's conversation is the gateway's alone; an upstream that speaks Responses
	// keeps its own, so a continuation of a deleted id is then the upstream's to answer.
	if !strings.Contains(model("{}"), "gpt-4o-r") {
		gone = append(gone, f.post("/v1/responses", model(`{"input":"x","previous_response_id":"`+first.ID+`"}`)))
	}
	for _, r := range gone {
		if r.status != http.StatusNotFound || r.errType(t) != "not_found_error" {
			t.Errorf("after DELETE: %d %s", r.status, r.body)
		}
	}
}

func TestResponsesToolsAndFormats(t *testing.T) { paths(t, testToolsAndFormats) }

func testToolsAndFormats(t *testing.T, f *fixture, model func(string) string) {
	tools := `"tools":[{"type":"function","name":"get_weather","description":"The weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]`
	r := decodeResponse(t, f.post("/v1/responses", model(`{"input":"What is the weather in Paris?","tool_choice":"required",`+tools+`}`)))
	if len(r.Output) != 1 || r.Output[0].Type != "function_call" || r.Output[0].Name != "get_weather" || r.Output[0].CallID == "" {
		t.Fatalf("output = %+v", r.Output)
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(r.Output[0].Arguments), &args); err != nil || args["city"] == nil {
		t.Fatalf("arguments %q: %v", r.Output[0].Arguments, err)
	}
	// The tool's result, sent back as function_call_output, ends the turn with text.
	follow := decodeResponse(t, f.post("/v1/responses", model(`{"previous_response_id":"`+r.ID+`",`+tools+`,
		"input":[{"type":"function_call_output","call_id":"`+r.Output[0].CallID+`","output":"sunny, 21 C"}]}`)))
	if follow.Output[0].Type != "message" || follow.OutputText == "" {
		t.Fatalf("after the tool result: %+v", follow.Output)
	}

	obj := decodeResponse(t, f.post("/v1/responses", model(`{"input":"A user","text":{"format":{"type":"json_schema","name":"user","strict":true,
		"schema":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}},"required":["name","age"],"additionalProperties":false}}}}`)))
	var user struct {
		Name *string `json:"name"`
		Age  *int    `json:"age"`
	}
	if err := json.Unmarshal([]byte(obj.OutputText), &user); err != nil || user.Name == nil || user.Age == nil {
		t.Fatalf("structured output %q: %v", obj.OutputText, err)
	}
}

func TestResponsesLogprobs(t *testing.T) { paths(t, testLogprobs) }

func testLogprobs(t *testing.T, f *fixture, model func(string) string) {
	r := f.post("/v1/responses", model(`{"input":"Hello","top_logprobs":2,"include":["message.output_text.logprobs"]}`))
	var resp struct {
		Output []struct {
			Content []struct {
				Text     string `json:"text"`
				Logprobs []struct {
					Token       string            `json:"token"`
					Logprob     float64           `json:"logprob"`
					TopLogprobs []json.RawMessage `json:"top_logprobs"`
				} `json:"logprobs"`
			} `json:"content"`
		} `json:"output"`
	}
	if err := json.Unmarshal(r.body, &resp); err != nil || len(resp.Output) == 0 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	part := resp.Output[0].Content[0]
	var text strings.Builder
	for _, lp := range part.Logprobs {
		text.WriteString(lp.Token)
		if lp.Logprob >= 0 || len(lp.TopLogprobs) != 2 {
			t.Fatalf("implausible logprob %+v", lp)
		}
	}
	if text.String() != part.Text || part.Text == "" {
		t.Errorf("logprob tokens make %q, the text is %q", text.String(), part.Text)
	}
}

func TestResponsesStream(t *testing.T) { paths(t, testStream) }

func testStream(t *testing.T, f *fixture, model func(string) string) {
	f.behave(sim.Behaviour{Chunks: 4})
	r := f.post("/v1/responses", model(`{"input":"Tell me a story","stream":true}`))
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	evs := events(r.body)
	var names []string
	var text strings.Builder
	for i, ev := range evs {
		var data struct {
			Type     string   `json:"type"`
			Seq      int      `json:"sequence_number"`
			Delta    string   `json:"delta"`
			Response response `json:"response"`
		}
		if err := json.Unmarshal([]byte(ev[1]), &data); err != nil || data.Type != ev[0] || data.Seq != i {
			t.Fatalf("event %d: %s %s (%v)", i, ev[0], ev[1], err)
		}
		if ev[0] == "response.output_text.delta" {
			text.WriteString(data.Delta)
		}
		if len(names) == 0 || names[len(names)-1] != ev[0] {
			names = append(names, ev[0])
		}
		if ev[0] == "response.completed" {
			if data.Response.OutputText != text.String() || data.Response.Usage == nil || data.Response.Usage.CostUSD == nil {
				t.Errorf("completed = %+v; streamed text %q", data.Response, text.String())
			}
			// A streamed response is stored as well.
			if got := decodeResponse(t, f.do(http.MethodGet, "/v1/responses/"+data.Response.ID, "", "")); got.OutputText != text.String() {
				t.Errorf("stored %q, streamed %q", got.OutputText, text.String())
			}
		}
	}
	want := "response.created response.in_progress response.output_item.added response.content_part.added response.output_text.delta " +
		"response.output_text.done response.content_part.done response.output_item.done response.completed"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("events\n got  %s\n want %s", got, want)
	}
}

func TestResponsesStreamFailsWithTypedEvents(t *testing.T) { paths(t, testStreamFails) }

func testStreamFails(t *testing.T, f *fixture, model func(string) string) {
	f.behave(sim.Behaviour{Chunks: 8, CutStreamAfter: 2})
	r := f.post("/v1/responses", model(`{"input":"Tell me a story","stream":true}`))
	evs := events(r.body)
	if len(evs) < 2 || evs[len(evs)-2][0] != "error" || evs[len(evs)-1][0] != "response.failed" {
		t.Fatalf("a cut stream ends with %v", evs)
	}
	var failed struct {
		Response response `json:"response"`
	}
	if err := json.Unmarshal([]byte(evs[len(evs)-1][1]), &failed); err != nil || failed.Response.Status != "failed" || failed.Response.Error == nil {
		t.Fatalf("response.failed = %s", evs[len(evs)-1][1])
	}
}

func TestResponsesBadInput(t *testing.T) {
	f := newFixture(t, "")
	tests := []struct {
		name, body, param string
		status            int
	}{
		{"no input", `{"model":"gpt-4o-mini"}`, "input", 400},
		{"input not a string or array", `{"input":{"a":1}}`, "input", 400},
		{"unknown role", `{"input":[{"role":"robot","content":"x"}]}`, "input[0].role", 400},
		{"message without content", `{"input":[{"role":"user"}]}`, "input[0].content", 400},
		{"item without type", `{"input":[{"content":"x"}]}`, "input[0].type", 400},
		{"function_call without name", `{"input":[{"type":"function_call","call_id":"c"}]}`, "input[0]", 400},
		{"temperature", `{"input":"x","temperature":3}`, "temperature", 400},
		{"max_output_tokens", `{"input":"x","max_output_tokens":1}`, "max_output_tokens", 400},
		{"tool choice not offered", `{"input":"x","tool_choice":{"type":"function","name":"f"}}`, "tool_choice", 400},
		{"schema without name", `{"input":"x","text":{"format":{"type":"json_schema","schema":{}}}}`, "text.format.name", 400},
		{"hosted tool on a chat upstream", `{"input":"x","tools":[{"type":"web_search_preview"}]}`, "tools[0].type", 400},
		{"unknown previous response", `{"input":"x","previous_response_id":"resp_nope"}`, "previous_response_id", 404},
		{"unknown item reference", `{"input":[{"type":"item_reference","id":"msg_nope_0"}]}`, "input[0].id", 404},
		{"item reference without id", `{"input":[{"type":"item_reference"}]}`, "input[0].id", 400},
		{"unknown model", `{"model":"nope","input":"x"}`, "model", 404},
		{"duplicate key", `{"input":"x","input":"y"}`, "input", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.post("/v1/responses", tt.body)
			var e struct {
				Error struct {
					Param *string `json:"param"`
					Type  string  `json:"type"`
				} `json:"error"`
			}
			if err := json.Unmarshal(r.body, &e); err != nil || r.status != tt.status || e.Error.Param == nil || *e.Error.Param != tt.param {
				t.Errorf("%d %s, want %d on %s", r.status, r.body, tt.status, tt.param)
			}
		})
	}
	for _, q := range []string{"?order=sideways", "?limit=0", "?limit=101", "?limit=x"} {
		if r := f.do(http.MethodGet, "/v1/responses/resp_x/input_items"+q, "", ""); r.status != http.StatusBadRequest {
			t.Errorf("input_items%s: %d %s", q, r.status, r.body)
		}
	}
}

// A model on an upstream that speaks Responses falls back to one on a chat upstream: the one
// retry and fallback loop asks each route in its own dialect.
func TestResponsesFallbackAcrossDialects(t *testing.T) {
	f := newFixture(t, `
providers:
  - {name: sim, type: sim}
  - {name: simr, type: sim, api: responses}
models:
  - {name: gpt-4o-mini, provider: sim}
  - {name: gpt-4o-r, provider: simr, fallbacks: [gpt-4o-mini]}
resilience:
  max_retries: 0
`)
	f.behave(sim.Behaviour{ErrorRate: 1, ErrorStatus: 503, ErrorModels: []string{"gpt-4o-r"}})
	for _, stream := range []string{"false", "true"} {
		r := f.post("/v1/responses", `{"model":"gpt-4o-r","input":"Hello","stream":`+stream+`}`)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `"model":"gpt-4o-mini"`) {
			t.Errorf("stream %s: %d %.300s", stream, r.status, r.body)
		}
	}
}

// An item_reference the gateway does not hold goes to an upstream that speaks Responses (its
// ids are its own, as OpenAI's are); for a chat upstream it is the gateway's 404.
func TestResponsesUnknownItemReference(t *testing.T) {
	f := newFixture(t, bothPaths)
	body := `{"model":"%s","input":[{"type":"item_reference","id":"msg_upstreamsown"}]}`
	var e struct {
		Error struct {
			Code *string `json:"code"`
		} `json:"error"`
	}
	// The gateway's own 404 names the item; the upstream's (the simulator does not hold it
	// either) comes back as the upstream's answer.
	r := f.post("/v1/responses", fmt.Sprintf(body, "gpt-4o-mini"))
	_ = json.Unmarshal(r.body, &e)
	if r.status != http.StatusNotFound || e.Error.Code == nil || *e.Error.Code != "item_not_found" {
		t.Errorf("translated: %d %s", r.status, r.body)
	}
	e.Error.Code = nil
	r = f.post("/v1/responses", fmt.Sprintf(body, "gpt-4o-r"))
	_ = json.Unmarshal(r.body, &e)
	if r.status != http.StatusNotFound || e.Error.Code != nil || !strings.Contains(string(r.body), "upstream") {
		t.Errorf("passed through: %d %s", r.status, r.body)
	}
}

// What a translated stream accumulates for response.completed is bounded by
// upstream.max_response_bytes: past it the stream fails, it does not grow.
func TestResponsesTranslatedStreamIsBounded(t *testing.T) {
	f := newFixture(t, "upstream: {max_response_bytes: 4096}\n")
	f.behave(sim.Behaviour{Chunks: 64, OutputTokens: 2000})
	evs := events(f.post("/v1/responses", `{"input":"Tell me a long story","stream":true}`).body)
	if len(evs) == 0 || evs[len(evs)-1][0] != "response.failed" {
		t.Fatalf("a stream past the bound ends with %v", evs[max(len(evs)-2, 0):])
	}
	if !strings.Contains(evs[len(evs)-1][1], "max_response_bytes") && !strings.Contains(evs[len(evs)-2][1], "large") {
		t.Errorf("the failure does not say why: %s", evs[len(evs)-2][1])
	}
}

func TestResponsesStreamToolCall(t *testing.T) { paths(t, testStreamToolCall) }

func testStreamToolCall(t *testing.T, f *fixture, model func(string) string) {
	r := f.post("/v1/responses", model(`{"input":"What is the weather in Paris?","stream":true,"tool_choice":"required",
		"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}`))
	var args strings.Builder
	var done string
	for _, ev := range events(r.body) {
		var data struct {
			Delta     string `json:"delta"`
			Arguments string `json:"arguments"`
			Item      struct{ Type, Name string }
		}
		if err := json.Unmarshal([]byte(ev[1]), &data); err != nil {
			t.Fatal(err)
		}
		switch ev[0] {
		case "response.output_item.added":
			if data.Item.Type != "function_call" || data.Item.Name != "get_weather" {
				t.Errorf("item added: %s", ev[1])
			}
		case "response.function_call_arguments.delta":
			args.WriteString(data.Delta)
		case "response.function_call_arguments.done":
			done = data.Arguments
		}
	}
	var parsed map[string]any
	if args.Len() == 0 || done != args.String() || json.Unmarshal([]byte(done), &parsed) != nil || parsed["city"] == nil {
		t.Errorf("argument deltas %q, done %q", args.String(), done)
	}
}
