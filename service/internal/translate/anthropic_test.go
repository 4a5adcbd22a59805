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

// decodeM reads a Messages request as the API layer does.
func decodeM(t *testing.T, s string) *wire.MessagesRequest {
	t.Helper()
	var r wire.MessagesRequest
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return &r
}

func decodeC(t *testing.T, s string) *wire.ChatRequest {
	t.Helper()
	var r wire.ChatRequest
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return &r
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestChatFromMessages(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string // substrings of the chat request's JSON
	}{
		{"system and text", `{"model":"m","max_tokens":5,"system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}`,
			[]string{`"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]`, `"max_tokens":5`}},
		{"system blocks", `{"model":"m","max_tokens":5,"system":[{"type":"text","text":"A"},{"type":"text","text":"B"}],"messages":[{"role":"user","content":"Hi"}]}`,
			[]string{`{"role":"system","content":"AB"}`}},
		{"image base64", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"What?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}}]}]}`,
			[]string{`"content":[{"type":"text","text":"What?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}}]`}},
		{"image url", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]}`,
			[]string{`{"type":"image_url","image_url":{"url":"https://x/y.png"}}`}},
		{"tool use and result", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"Add"},
			{"role":"assistant","content":[{"type":"text","text":"Let me."},{"type":"tool_use","id":"toolu_1","name":"calc","input":{"a":1}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"2"},{"type":"text","text":"Thanks"}]}]}`,
			[]string{`{"role":"assistant","content":"Let me.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"calc","arguments":"{\"a\":1}"}}]}`,
				`{"role":"tool","content":"2","tool_call_id":"toolu_1"},{"role":"user","content":"Thanks"}`}},
		{"tool use alone has null content", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]}`,
			[]string{`{"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]}`}},
		{"tools", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"calc","description":"d","input_schema":{"type":"object"}}]}`,
			[]string{`"tools":[{"type":"function","function":{"name":"calc","description":"d","parameters":{"type":"object"}}}]`}},
		{"tool_choice any", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"any"}}`, []string{`"tool_choice":"required"`}},
		{"tool_choice none", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"none"}}`, []string{`"tool_choice":"none"`}},
		{"tool_choice auto", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}`,
			[]string{`"tool_choice":"auto"`, `"parallel_tool_calls":false`}},
		{"tool_choice tool", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"tool","name":"calc"}}`,
			[]string{`"tool_choice":{"type":"function","function":{"name":"calc"}}`}},
		{"sampling, stop, user, stream", `{"model":"m","max_tokens":5,"temperature":0.5,"top_p":0.9,"stop_sequences":["END"],"metadata":{"user_id":"u1"},"stream":true,"messages":[{"role":"user","content":"x"}]}`,
			[]string{`"temperature":0.5`, `"top_p":0.9`, `"stop":["END"]`, `"user":"u1"`, `"stream":true`}},
		{"earlier thinking is left out", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"Yes"}]}]}`,
			[]string{`{"role":"assistant","content":"Yes"}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := ChatFromMessages(decodeM(t, c.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := js(t, out)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("chat request\n%s\nlacks\n%s", got, w)
				}
			}
		})
	}
}

func TestUntranslatable(t *testing.T) {
	cases := []struct {
		name, in, param string
		chat            bool // an OpenAI request to Anthropic; otherwise the reverse
	}{
		{"thinking to OpenAI", `{"model":"m","max_tokens":5,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"x"}]}`, "thinking", false},
		{"top_k to OpenAI", `{"model":"m","max_tokens":5,"top_k":5,"messages":[{"role":"user","content":"x"}]}`, "top_k", false},
		{"a document to OpenAI", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","data":"d"}}]}]}`, "messages.0.content.0.type", false},
		{"a server tool to OpenAI", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}`, "tools.0", false},
		{"n > 1 to Anthropic", `{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}`, "n", true},
		{"json_schema to Anthropic", `{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"x"}},"messages":[{"role":"user","content":"x"}]}`, "response_format", true},
		{"seed to Anthropic", `{"model":"m","seed":1,"messages":[{"role":"user","content":"x"}]}`, "seed", true},
		{"audio to Anthropic", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}`, "messages[0].content[0]", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := func(o Options) error {
				if c.chat {
					_, err := MessagesFromChat(decodeC(t, c.in), o)
					return err
				}
				_, err := ChatFromMessages(decodeM(t, c.in), o)
				return err
			}
			var e *apperr.Error
			if err := run(Options{}); !errors.As(err, &e) || e.Kind != apperr.InvalidRequest || e.Param != c.param || !strings.Contains(e.Message, c.param) {
				t.Errorf("error = %v, want a 400 naming %q", err, c.param)
			}
			if err := run(Options{DropUnsupported: true}); err != nil {
				t.Errorf("with drop_unsupported: %v", err)
			}
		})
	}
}

func TestMessagesFromChat(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		{"system, developer and max_tokens default", `{"model":"m","messages":[{"role":"system","content":"A"},{"role":"developer","content":"B"},{"role":"user","content":"Hi"}]}`,
			[]string{`"system":"A\n\nB"`, `"max_tokens":4096`, `"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]`}},
		{"max_completion_tokens wins", `{"model":"m","max_tokens":7,"max_completion_tokens":9,"messages":[{"role":"user","content":"Hi"}]}`, []string{`"max_tokens":9`}},
		{"temperature above Anthropic's range", `{"model":"m","temperature":1.5,"messages":[{"role":"user","content":"Hi"}]}`, []string{`"temperature":1`}},
		{"image parts", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"What?"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/"}},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`,
			[]string{`{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}}`, `{"type":"image","source":{"type":"url","url":"https://x/y.png"}}`}},
		{"tool calls and results merge into turns", `{"model":"m","messages":[{"role":"user","content":"Add"},
			{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"calc","arguments":"{\"a\":1}"}},{"id":"call_2","type":"function","function":{"name":"clock","arguments":""}}]},
			{"role":"tool","tool_call_id":"call_1","content":"2"},{"role":"tool","tool_call_id":"call_2","content":"noon"},{"role":"user","content":"Thanks"}]}`,
			[]string{`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"calc","input":{"a":1}},{"type":"tool_use","id":"toolu_2","name":"clock","input":{}}]}`,
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"2"},{"type":"tool_result","tool_use_id":"toolu_2","content":"noon"},{"type":"text","text":"Thanks"}]}`}},
		{"tools and choice", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"calc","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"calc"}},"parallel_tool_calls":false}`,
			[]string{`"tools":[{"name":"calc","input_schema":{"type":"object"}}]`, `"tool_choice":{"type":"tool","name":"calc","disable_parallel_tool_use":true}`}},
		{"required", `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"required"}`, []string{`"tool_choice":{"type":"any"}`}},
		{"stop and user", `{"model":"m","stop":"END","user":"u","messages":[{"role":"user","content":"x"}]}`, []string{`"stop_sequences":["END"]`, `"metadata":{"user_id":"u"}`}},
		{"n of 1 is fine", `{"model":"m","n":1,"messages":[{"role":"user","content":"x"}]}`, []string{`"model":"m"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := MessagesFromChat(decodeC(t, c.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := js(t, out)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("messages request\n%s\nlacks\n%s", got, w)
				}
			}
		})
	}
	if _, err := MessagesFromChat(decodeC(t, `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1"}}]}]}`), Options{}); err == nil ||
		!strings.Contains(err.Error(), "messages[0].tool_calls[0].function.arguments") {
		t.Errorf("bad arguments: %v", err)
	}
}

func TestReasonsAndUsage(t *testing.T) {
	for stop, finish := range map[string]string{"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls", "refusal": "content_filter", "odd": "stop"} {
		if got := FinishReason(stop); got != finish {
			t.Errorf("FinishReason(%q) = %q, want %q", stop, got, finish)
		}
	}
	for finish, stop := range map[string]string{"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal", "": "end_turn"} {
		if got := StopReason(finish); got != stop {
			t.Errorf("StopReason(%q) = %q, want %q", finish, got, stop)
		}
	}
	for _, u := range []wire.AUsage{{InputTokens: 10, OutputTokens: 5}, {InputTokens: 3, OutputTokens: 1, CacheReadInputTokens: 100, CacheCreationInputTokens: 20}} {
		o := UsageFromAnthropic(u)
		if o.PromptTokens != u.InputTokens+u.CacheReadInputTokens+u.CacheCreationInputTokens || o.TotalTokens != o.PromptTokens+o.CompletionTokens {
			t.Errorf("UsageFromAnthropic(%+v) = %+v", u, o)
		}
		if back := UsageToAnthropic(o); back != u {
			t.Errorf("round trip of %+v = %+v", u, back)
		}
	}
}

// TestRoundTrips: an Anthropic request through OpenAI and back keeps what both express; so do
// answers both ways.
func TestRoundTrips(t *testing.T) {
	in := decodeM(t, `{"model":"m","max_tokens":50,"system":"S","temperature":0.2,"stop_sequences":["X"],"metadata":{"user_id":"u"},
		"messages":[{"role":"user","content":"Add"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_9","name":"calc","input":{"a":1}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_9","content":"2"}]}],
		"tools":[{"name":"calc","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"calc"}}`)
	chat, err := ChatFromMessages(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	back, err := MessagesFromChat(chat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := js(t, normalize(in)), js(t, normalize(back)); a != b {
		t.Errorf("request round trip\n%s\n!=\n%s", a, b)
	}

	msg := decodeMsg(t, `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"Hi"},{"type":"tool_use","id":"toolu_1","name":"f","input":{"x":1}}],
		"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":4,"output_tokens":2,"cache_creation_input_tokens":1,"cache_read_input_tokens":8}}`)
	again, err := MessageFromChat(ChatFromMessage(msg, 1), "m")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(msg, again) {
		t.Errorf("answer round trip\n%s\n!=\n%s", js(t, msg), js(t, again))
	}
}

// normalize drops what one dialect fills in for the other (OpenAI has no required max_tokens).
func normalize(r *wire.MessagesRequest) *wire.MessagesRequest {
	c := *r
	c.Raw = nil
	if c.System != nil {
		c.System = &wire.AnthropicText{Text: c.System.Text}
	}
	return &c
}

func decodeMsg(t *testing.T, s string) *wire.MessagesResponse {
	t.Helper()
	var m wire.MessagesResponse
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func TestMessageFromChat(t *testing.T) {
	var resp wire.ChatResponse
	if err := json.Unmarshal([]byte(`{"id":"chatcmpl-7","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,
		"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_3","type":"function","function":{"name":"f","arguments":"{\"q\":2}"}}]},"finish_reason":"tool_calls"}],
		"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":10}}}`), &resp); err != nil {
		t.Fatal(err)
	}
	m, err := MessageFromChat(&resp, "public")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"msg_7","type":"message","role":"assistant","model":"public","content":[{"type":"tool_use","id":"toolu_3","name":"f","input":{"q":2}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":2,"output_tokens":3,"cache_creation_input_tokens":0,"cache_read_input_tokens":10}}`
	if got := js(t, m); got != want {
		t.Errorf("message\n%s\nwant\n%s", got, want)
	}
	resp.Choices[0].Message.ToolCalls[0].Function.Arguments = "not json"
	if _, err := MessageFromChat(&resp, "public"); err == nil {
		t.Error("arguments that are not JSON became a tool_use")
	}
	if _, err := MessageFromChat(&wire.ChatResponse{}, "public"); err == nil {
		t.Error("a completion without choices became a message")
	}
}
