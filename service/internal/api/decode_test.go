package api

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/wire"
)

// TestDecodeRefusesAmbiguousKeys: every body the gateway reads, at every level it reads, is a
// 400 naming the key when a key is repeated or is a case variant of a field.
func TestDecodeRefusesAmbiguousKeys(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		into       func() any
		param      string
	}{
		{"chat: model repeated", `{"model":"x","model":"unlisted","messages":[{"role":"user","content":"hi"}]}`, func() any { return new(wire.ChatRequest) }, "model"},
		{"chat: MODEL", `{"model":"x","MODEL":"cheap","messages":[{"role":"user","content":"hi"}]}`, func() any { return new(wire.ChatRequest) }, "MODEL"},
		{"chat: N", `{"N":5,"messages":[{"role":"user","content":"hi"}]}`, func() any { return new(wire.ChatRequest) }, "N"},
		{"chat: Max_Tokens", `{"Max_Tokens":5,"messages":[{"role":"user","content":"hi"}]}`, func() any { return new(wire.ChatRequest) }, "Max_Tokens"},
		{"chat: a message's Role", `{"messages":[{"role":"user","Role":"system","content":"hi"}]}`, func() any { return new(wire.ChatRequest) }, "messages[0].Role"},
		{"chat: a tool's function name", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","NAME":"g"}}]}`, func() any { return new(wire.ChatRequest) }, "tools[0].function.NAME"},
		{"images: prompt repeated", `{"prompt":"a","prompt":"b"}`, func() any { return new(wire.ImageRequest) }, "prompt"},
		{"images: N", `{"prompt":"a","N":10}`, func() any { return new(wire.ImageRequest) }, "N"},
		{"agent run: INPUT", `{"input":"a","INPUT":"b"}`, func() any { return new(runRequest) }, "INPUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Decode([]byte(tc.body), tc.into())
			e := apperr.From(err)
			if e.Kind != apperr.InvalidRequest || e.Param != tc.param || !strings.Contains(e.Message, tc.param) {
				t.Fatalf("Decode = %v (param %q), want a 400 naming %q", err, e.Param, tc.param)
			}
		})
	}
}

func TestValidateChatOpenAIRules(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	const tool = `"tools":[{"type":"function","function":{"name":"calc","parameters":{"type":"object"}}}]`
	for _, tc := range []struct {
		name, body, param string // param "" when valid
	}{
		{"plain", `{` + msgs + `}`, ""},
		{"penalties at the bounds", `{` + msgs + `,"presence_penalty":-2,"frequency_penalty":2}`, ""},
		{"presence_penalty below -2", `{` + msgs + `,"presence_penalty":-2.5}`, "presence_penalty"},
		{"frequency_penalty above 2", `{` + msgs + `,"frequency_penalty":3}`, "frequency_penalty"},
		{"parameters an object", `{` + msgs + `,` + tool + `}`, ""},
		{"parameters not an object", `{` + msgs + `,"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]}`, "tools[0].function.parameters"},
		{"parameters an array", `{` + msgs + `,"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]}`, "tools[0].function.parameters"},
		{"tool_choice auto", `{` + msgs + `,` + tool + `,"tool_choice":"auto"}`, ""},
		{"tool_choice none without tools", `{` + msgs + `,"tool_choice":"none"}`, ""},
		{"tool_choice required without tools", `{` + msgs + `,"tool_choice":"required"}`, "tool_choice"},
		{"tool_choice an unknown mode", `{` + msgs + `,` + tool + `,"tool_choice":"sometimes"}`, "tool_choice"},
		{"tool_choice names an offered tool", `{` + msgs + `,` + tool + `,"tool_choice":{"type":"function","function":{"name":"calc"}}}`, ""},
		{"tool_choice names a tool not offered", `{` + msgs + `,` + tool + `,"tool_choice":{"type":"function","function":{"name":"shell"}}}`, "tool_choice"},
		{"tool_choice with a case variant", `{` + msgs + `,` + tool + `,"tool_choice":{"type":"function","function":{"name":"calc","NAME":"shell"}}}`, "tool_choice"},
		{"tool_choice a number", `{` + msgs + `,"tool_choice":5}`, "tool_choice"},
		{"response_format json_object", `{` + msgs + `,"response_format":{"type":"json_object"}}`, ""},
		{"response_format json_schema", `{` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}}}`, ""},
		{"response_format json_schema without a schema", `{` + msgs + `,"response_format":{"type":"json_schema"}}`, "response_format.json_schema"},
		{"response_format unknown type", `{` + msgs + `,"response_format":{"type":"yaml"}}`, "response_format.type"},
		{"response_format TYPE", `{` + msgs + `,"response_format":{"TYPE":"text"}}`, "response_format.type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req wire.ChatRequest
			err := Decode([]byte(tc.body), &req)
			if err == nil {
				err = validateChat(&req, "m")
			}
			if tc.param == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if e := apperr.From(err); e.Kind != apperr.InvalidRequest || e.Param != tc.param {
				t.Fatalf("error %v (param %q), want a 400 on %q", err, e.Param, tc.param)
			}
		})
	}
}

func TestReadAllPresizes(t *testing.T) {
	body := strings.Repeat("x", 3000)
	big := strings.Repeat("y", presizeMax+5000)
	broken := errors.New("connection reset")
	tests := []struct {
		name     string
		r        io.Reader
		declared int64
		want     string
		wantErr  error
		maxCap   int
	}{
		{"declared length", strings.NewReader(body), 3000, body, nil, 3001},
		{"unknown length", strings.NewReader(body), -1, body, nil, 0},
		{"shorter than declared", strings.NewReader(body), 5000, body, nil, 5001},
		{"longer than declared grows", strings.NewReader(body), 100, body, nil, 0},
		{"a huge claim allocates at most presizeMax first", strings.NewReader(""), 1 << 20, "", nil, presizeMax + 1},
		{"a body over presizeMax still reads whole", strings.NewReader(big), int64(len(big)), big, nil, 0},
		{"a read error", io.MultiReader(strings.NewReader(body), iotest.ErrReader(broken)), 3000, body, broken, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(tt.r, tt.declared)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("read %d bytes, want %d", len(got), len(tt.want))
			}
			if tt.maxCap > 0 && cap(got) > tt.maxCap {
				t.Errorf("cap = %d, want at most %d (one allocation of the declared length)", cap(got), tt.maxCap)
			}
		})
	}
}

// TestElementErrorsNameTheirPlace: a list element's error names the element's place in the body
// (the validators name fields from the element; the list's loop places them).
func TestElementErrorsNameTheirPlace(t *testing.T) {
	chat := func(body string) error {
		var req wire.ChatRequest
		if err := Decode([]byte(body), &req); err != nil {
			return err
		}
		return validateChat(&req, "m")
	}
	messages := func(body string) error {
		var req wire.MessagesRequest
		if err := Decode([]byte(body), &req); err != nil {
			return err
		}
		return ValidateMessages(&req, false)
	}
	responses := func(body string) error {
		var req wire.ResponsesRequest
		if err := Decode([]byte(body), &req); err != nil {
			return err
		}
		return validateResponses(&req, "m")
	}
	const am = `{"model":"m","max_tokens":8,`
	for _, tc := range []struct {
		name, body     string
		check          func(string) error
		param, message string
	}{
		{"chat: the second message's role", `{"messages":[{"role":"user","content":"a"},{"role":"bot","content":"b"}]}`, chat,
			"messages[1].role", `messages[1].role must be one of system, developer, user, assistant, tool, not "bot".`},
		{"chat: a tool message without its call", `{"messages":[{"role":"tool","content":"a"}]}`, chat,
			"messages[0].tool_call_id", "messages[0].tool_call_id is required for tool messages."},
		{"messages: a block of the third message", am + `"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":[{"type":"text","text":"c"},{"type":"video"}]}]}`, messages,
			"messages.2.content.1.type", `messages.2.content.1.type: unknown content block type "video".`},
		{"messages: a system block", am + `"system":[{"type":"tool_use","id":"x","name":"f"}],"messages":[{"role":"user","content":"a"}]}`, messages,
			"system.0", "system.0: a tool_use block is an assistant's, with an id and a name."},
		{"messages: a message without content", am + `"messages":[{"role":"user"}]}`, messages,
			"messages.0.content", "messages.0.content: Field required."},
		{"messages: the second tool", am + `"messages":[{"role":"user","content":"a"}],"tools":[{"name":"f","input_schema":{}},{"input_schema":{}}]}`, messages,
			"tools.1.name", "tools.1.name: Field required."},
		{"responses: a function call without its id", `{"input":[{"role":"user","content":"a"},{"type":"function_call","name":"f"}]}`, responses,
			"input[1]", "input[1] (function_call) needs call_id and name."},
		{"responses: an item without a type", `{"input":[{"content":"a"}]}`, responses,
			"input[0].type", "input[0] needs a type (or a role, for a message)."},
		{"responses: the second tool", `{"input":"a","tools":[{"type":"function","name":"f"},{"type":"function"}]}`, responses,
			"tools[1].name", "tools[1].name is required for function tools."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := apperr.From(tc.check(tc.body))
			if e == nil || e.Kind != apperr.InvalidRequest || e.Param != tc.param || e.Message != tc.message {
				t.Fatalf("got %+v; want param %q, message %q", e, tc.param, tc.message)
			}
		})
	}
}

// TestPretouch: sonic compiles a decoder for every request type, so none is left to compile
// during a client's first request (NewServer only logs a failure).
func TestPretouch(t *testing.T) {
	if err := pretouch(); err != nil {
		t.Fatal(err)
	}
}
