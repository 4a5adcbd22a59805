package translate

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/wire"
)

// FuzzToChat: any request that decodes either translates or is refused as bad input — never a
// panic or another kind of error — and a translation keeps every input item's text.
func FuzzToChat(f *testing.F) {
	for _, s := range []string{
		`{"input":"hi","instructions":"sys"}`,
		`{"input":[{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"u"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"r"}]}`,
		`{"input":"x","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"f"},"text":{"format":{"type":"json_schema","name":"n","schema":{}}}}`,
		`{"input":[{"type":"item_reference","id":"x"}]}`,
		`{"input":"x","tool_choice":{"type":"mcp"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req wire.ResponsesRequest
		if json.Unmarshal(b, &req) != nil {
			return
		}
		chat, err := ToChat(&req, nil)
		if err != nil {
			var e *apperr.Error
			if !errors.As(err, &e) || e.Kind != apperr.InvalidRequest || e.Message == "" {
				t.Fatalf("ToChat refused with %v, want an invalid request with a message", err)
			}
			return
		}
		var all strings.Builder
		for _, m := range chat.Messages {
			all.WriteString(m.Content.Text)
			for _, tc := range m.ToolCalls {
				all.WriteString(tc.Function.Arguments)
			}
		}
		for _, it := range req.Input.AsItems() {
			text := map[string]string{"message": it.Content.AllText(), "function_call": it.Arguments, "function_call_output": it.Output.AllText()}[it.Kind()]
			if !strings.Contains(all.String(), text) {
				t.Fatalf("item %+v lost its text in %+v", it, chat.Messages)
			}
		}
	})
}

// FuzzEvents: any sequence of chat chunks (one JSON value per line) makes a stream numbered
// from 0 without gaps that starts with response.created and ends with a terminal event
// carrying the response, whose output text is every text delta joined.
func FuzzEvents(f *testing.F) {
	f.Add([]byte(`{"choices":[{"index":0,"delta":{"content":"Hel"}}]}`+"\n"+`{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}`), false)
	f.Add([]byte(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{"}}]}}]}`+"\n"+`{"choices":[{"index":0,"delta":{"content":"x","tool_calls":[{"index":3,"function":{"arguments":"}"}}]}}]}`), true)
	f.Fuzz(func(t *testing.T, b []byte, fail bool) {
		e := NewEvents(NewResponse(&wire.ResponsesRequest{}, "resp_f", "m", 1))
		evs := e.Start()
		var text strings.Builder
		for _, line := range strings.Split(string(b), "\n") {
			var c wire.Chunk
			if json.Unmarshal([]byte(line), &c) != nil {
				continue
			}
			for _, ev := range e.Chunk(&c) {
				if ev.Type == "response.output_text.delta" {
					text.WriteString(*ev.Delta)
				}
				evs = append(evs, ev)
			}
		}
		if fail {
			evs = append(evs, e.Fail("upstream_error", "cut")...)
		} else {
			evs = append(evs, e.End()...)
		}
		for i, ev := range evs {
			if ev.SequenceNumber != i {
				t.Fatalf("event %d (%s) numbered %d", i, ev.Type, ev.SequenceNumber)
			}
		}
		last := evs[len(evs)-1]
		if evs[0].Type != "response.created" || last.Response == nil || !strings.HasPrefix(last.Type, "response.") {
			t.Fatalf("stream starts with %s and ends with %s", evs[0].Type, last.Type)
		}
		if got := last.Response.OutputText; got != text.String() {
			t.Fatalf("output_text %q, deltas %q", got, text.String())
		}
	})
}
