package translate

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/wire"
)

func decodeReq(t *testing.T, s string) *wire.ResponsesRequest {
	t.Helper()
	var r wire.ResponsesRequest
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return &r
}

func TestToChat(t *testing.T) {
	tests := []struct {
		name string
		req  string
		want string // the chat request as JSON
	}{
		{"string input with instructions", `{"model":"m","input":"Hi","instructions":"Be brief","max_output_tokens":64,"temperature":0.5}`,
			`{"model":"m","messages":[{"role":"system","content":"Be brief"},{"role":"user","content":"Hi"}],"temperature":0.5,"max_tokens":64}`},
		{"message items with parts", `{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"What is "},{"type":"input_image","image_url":"https://x/i.png","detail":"low"}]}]}`,
			`{"model":"m","messages":[{"role":"user","content":[{"text":"What is ","type":"text"},{"image_url":{"detail":"low","url":"https://x/i.png"},"type":"image_url"}]}]}`},
		{"function call round", `{"model":"m","input":[{"type":"message","role":"user","content":"2+2?"},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Let me see."}]},{"type":"function_call","call_id":"c1","name":"calc","arguments":"{\"e\":\"2+2\"}"},{"type":"function_call","call_id":"c2","name":"clock","arguments":"{}"},{"type":"function_call_output","call_id":"c1","output":"4"}]}`,
			`{"model":"m","messages":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"Let me see.","tool_calls":[{"id":"c1","type":"function","function":{"name":"calc","arguments":"{\"e\":\"2+2\"}"}},{"id":"c2","type":"function","function":{"name":"clock","arguments":"{}"}}]},{"role":"tool","content":"4","tool_call_id":"c1"}]}`},
		{"tools, named choice, schema format, stream", `{"model":"m","input":"w","stream":true,"parallel_tool_calls":false,"tools":[{"type":"function","name":"w","description":"d","parameters":{"type":"object"}}],"tool_choice":{"type":"function","name":"w"},"text":{"format":{"type":"json_schema","name":"o","schema":{"type":"object"},"strict":true}}}`,
			`{"model":"m","messages":[{"role":"user","content":"w"}],"tools":[{"type":"function","function":{"name":"w","description":"d","parameters":{"type":"object"}}}],"tool_choice":{"function":{"name":"w"},"type":"function"},"parallel_tool_calls":false,"response_format":{"json_schema":{"name":"o","schema":{"type":"object"},"strict":true},"type":"json_schema"},"stream":true,"stream_options":{"include_usage":true}}`},
		{"json_object and a string choice", `{"model":"m","input":"x","text":{"format":{"type":"json_object"}},"tool_choice":"none"}`,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"none","response_format":{"type":"json_object"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ToChat(decodeReq(t, tt.req), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(got)
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}

func TestToChatHistoryComesFirst(t *testing.T) {
	history := []wire.InputItem{{Type: "message", Role: "user", Content: wire.ItemContent{Text: "one", IsText: true}},
		{Type: "message", Role: "assistant", Content: wire.ItemContent{Parts: []wire.ContentPart{{Type: "output_text", Text: "two"}}}}}
	got, err := ToChat(decodeReq(t, `{"model":"m","input":"three","instructions":"sys"}`), history)
	if err != nil {
		t.Fatal(err)
	}
	var roles, texts []string
	for _, m := range got.Messages {
		roles, texts = append(roles, m.Role), append(texts, m.Content.Text)
	}
	if !reflect.DeepEqual(roles, []string{"system", "user", "assistant", "user"}) || !reflect.DeepEqual(texts, []string{"sys", "one", "two", "three"}) {
		t.Errorf("roles %v texts %v", roles, texts)
	}
}

func TestToChatRefusesWhatChatCannotSay(t *testing.T) {
	tests := []struct{ name, req, param string }{
		{"hosted tool", `{"input":"x","tools":[{"type":"web_search_preview"}]}`, "tools[0].type"},
		{"item reference", `{"input":[{"type":"item_reference","id":"msg_1"}]}`, "input[0].type"},
		{"unknown part", `{"input":[{"role":"user","content":[{"type":"input_audio"}]}]}`, "input[0].content[0].type"},
		{"bad tool choice", `{"input":"x","tool_choice":{"type":"file_search"}}`, "tool_choice"},
		{"bad format", `{"input":"x","text":{"format":{"type":"yaml"}}}`, "text.format.type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ToChat(decodeReq(t, tt.req), nil)
			var e *apperr.Error
			if !errors.As(err, &e) || e.Kind != apperr.InvalidRequest || e.Param != tt.param {
				t.Fatalf("err = %v, want an invalid request on %s", err, tt.param)
			}
		})
	}
}

// TestRequestRoundTrip: what ToChat says, FromChatRequest says back in Responses' terms.
func TestRequestRoundTrip(t *testing.T) {
	for _, s := range []string{
		`{"model":"m","input":[{"type":"message","role":"user","content":"Hi"}],"instructions":"sys","max_output_tokens":32,"temperature":1,"top_p":0.5,"user":"u"}`,
		`{"model":"m","input":[{"type":"message","role":"user","content":"q"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"r"},{"type":"message","role":"assistant","content":"done"}],"tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"tool_choice":{"type":"function","name":"f"},"parallel_tool_calls":true}`,
		`{"model":"m","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"see"},{"type":"input_image","image_url":"data:image/png;base64,AA","detail":"high"}]}],"text":{"format":{"type":"json_schema","name":"n","schema":{"type":"object"}}}}`,
	} {
		req := decodeReq(t, s)
		chat, err := ToChat(req, nil)
		if err != nil {
			t.Fatal(err)
		}
		back := FromChatRequest(chat)
		want, _ := json.Marshal(req)
		got, _ := json.Marshal(back)
		if string(got) != string(want) {
			t.Errorf("round trip\n got  %s\n want %s", got, want)
		}
	}
}

func TestComplete(t *testing.T) {
	tests := []struct {
		name, chat string
		status     string
		output     string // the output items' types and texts
		text       string
	}{
		{"text", `{"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`,
			"completed", "message:Hello", "Hello"},
		{"tool calls", `{"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"id":"c2","type":"function","function":{"name":"g","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`,
			"completed", `function_call:f{"a":1} function_call:g{}`, ""},
		{"cut by length", `{"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hel"},"finish_reason":"length"}]}`,
			"incomplete", "message:Hel", "Hel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c wire.ChatResponse
			if err := json.Unmarshal([]byte(tt.chat), &c); err != nil {
				t.Fatal(err)
			}
			r := NewResponse(decodeReq(t, `{"input":"x"}`), "resp_1", "pub", 7)
			Complete(r, &c)
			var out []string
			for _, it := range r.Output {
				switch it.Type {
				case "message":
					out = append(out, "message:"+it.Content[0].Text)
				case "function_call":
					out = append(out, "function_call:"+it.Name+*it.Arguments)
				}
			}
			if r.Status != tt.status || strings.Join(out, " ") != tt.output || r.OutputText != tt.text {
				t.Errorf("status %s output %v text %q", r.Status, out, r.OutputText)
			}
		})
	}
}

func TestUsageRoundTrip(t *testing.T) {
	usd := 0.25
	for _, u := range []*wire.Usage{
		{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15},
		{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15, PromptTokensDetails: &wire.PromptTokensDetails{CachedTokens: 4},
			CompletionTokensDetails: &wire.CompletionTokensDetails{ReasoningTokens: 3}, CostUSD: &usd, Estimated: true},
	} {
		r := Usage(u)
		if r.InputTokens != u.PromptTokens || r.OutputTokens != u.CompletionTokens || r.CostUSD != u.CostUSD {
			t.Errorf("Usage(%+v) = %+v", u, r)
		}
		if back := ChatUsage(r); !reflect.DeepEqual(back, u) {
			t.Errorf("ChatUsage(Usage(%+v)) = %+v", u, back)
		}
	}
	if Usage(nil) != nil || ChatUsage(nil) != nil {
		t.Error("nil usage must stay nil")
	}
}

// TestItemsContinueTheConversation: a response's output, as input items, is what ToChat makes
// the assistant's turn of.
func TestItemsContinueTheConversation(t *testing.T) {
	args := `{"x":1}`
	out := []wire.OutputItem{MessageItem("msg_1", "thinking", "completed"),
		{Type: "function_call", ID: "fc_1", Status: "completed", CallID: "c1", Name: "f", Arguments: &args}}
	msgs, err := Messages(Items(out), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Role != "assistant" || msgs[0].Content.Text != "thinking" || len(msgs[0].ToolCalls) != 1 || msgs[0].ToolCalls[0].Function.Arguments != args {
		t.Errorf("messages = %+v", msgs)
	}
}

func TestResponseOfItem(t *testing.T) {
	for _, tt := range []struct {
		item, resp string
		ok         bool
	}{
		{ItemID("resp_abc", "msg", 0), "resp_abc", true},
		{ItemID("resp_abc", "fc", 12), "resp_abc", true},
		{ItemID("resp_abc"+"_in", "msg", 3), "resp_abc", true},
		{ItemID("resp_simxyz", "msg", 1), "resp_simxyz", true},
		{"msg", "", false},
		{"msg_", "", false},
	} {
		if got, ok := ResponseOfItem(tt.item); got != tt.resp || ok != tt.ok {
			t.Errorf("ResponseOfItem(%q) = %q, %v; want %q, %v", tt.item, got, ok, tt.resp, tt.ok)
		}
	}
}
