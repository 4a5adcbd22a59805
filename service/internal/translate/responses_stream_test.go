package translate

import (
	"encoding/json"
	"strings"
	"testing"

	"aiservice/service/internal/wire"
)

func chunks(t *testing.T, lines ...string) []*wire.Chunk {
	t.Helper()
	out := make([]*wire.Chunk, len(lines))
	for i, l := range lines {
		out[i] = &wire.Chunk{}
		if err := json.Unmarshal([]byte(l), out[i]); err != nil {
			t.Fatalf("chunk %s: %v", l, err)
		}
	}
	return out
}

// run translates a whole stream and returns the event types in order.
func run(t *testing.T, cs []*wire.Chunk, fail bool) ([]wire.ResponseEvent, *wire.Response) {
	t.Helper()
	e := NewEvents(NewResponse(&wire.ResponsesRequest{}, "resp_s", "m", 1))
	evs := e.Start()
	for _, c := range cs {
		evs = append(evs, e.Chunk(c)...)
	}
	if fail {
		evs = append(evs, e.Fail("timeout", "too slow")...)
	} else {
		evs = append(evs, e.End()...)
	}
	for i, ev := range evs {
		if ev.SequenceNumber != i {
			t.Fatalf("event %d (%s) has sequence_number %d", i, ev.Type, ev.SequenceNumber)
		}
	}
	return evs, e.Response()
}

func types(evs []wire.ResponseEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, strings.TrimPrefix(e.Type, "response."))
	}
	return strings.Join(s, " ")
}

func TestEvents(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		fail   bool
		types  string
		status string
		text   string
	}{
		{"text", []string{
			`{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}`,
			`{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}`,
			`{"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":2,"total_tokens":4,"cost_usd":0.5}}`,
		}, false, "created in_progress output_item.added content_part.added output_text.delta output_text.delta output_text.done content_part.done output_item.done completed", "completed", "Hello"},
		{"tool calls", []string{
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":""}}]}}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"c2","type":"function","function":{"name":"g","arguments":"{}"}}]}}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"finish_reason":"tool_calls"}]}`,
		}, false, "created in_progress output_item.added function_call_arguments.delta output_item.added function_call_arguments.delta function_call_arguments.delta function_call_arguments.done output_item.done function_call_arguments.done output_item.done completed", "completed", ""},
		{"cut by length", []string{`{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"length"}]}`},
			false, "created in_progress output_item.added content_part.added output_text.delta output_text.done content_part.done output_item.done incomplete", "incomplete", "Hi"},
		{"failed mid-stream", []string{`{"choices":[{"index":0,"delta":{"content":"Hi"}}]}`},
			true, "created in_progress output_item.added content_part.added output_text.delta output_text.done content_part.done output_item.done error failed", "failed", "Hi"},
		{"other choices ignored", []string{`{"choices":[{"index":1,"delta":{"content":"no"}},{"index":0,"delta":{"content":"yes"}}]}`},
			false, "created in_progress output_item.added content_part.added output_text.delta output_text.done content_part.done output_item.done completed", "completed", "yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, r := run(t, chunks(t, tt.chunks...), tt.fail)
			if got := types(evs); got != tt.types {
				t.Errorf("events\n got  %s\n want %s", got, tt.types)
			}
			if r.Status != tt.status || r.OutputText != tt.text {
				t.Errorf("status %s text %q", r.Status, r.OutputText)
			}
			last := evs[len(evs)-1].Response
			if last == nil || last.Status != tt.status {
				t.Errorf("the last event does not carry the final response: %+v", evs[len(evs)-1])
			}
		})
	}
}

func TestEventsCarryArgumentsAndUsage(t *testing.T) {
	evs, r := run(t, chunks(t,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}`,
		`{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":2}}}`), false)
	if len(r.Output) != 1 || *r.Output[0].Arguments != `{"a":1}` || r.Output[0].CallID != "c1" {
		t.Errorf("output = %+v", r.Output)
	}
	if r.Usage == nil || r.Usage.InputTokens != 7 || r.Usage.InputTokensDetails.CachedTokens != 2 {
		t.Errorf("usage = %+v", r.Usage)
	}
	if created := evs[0].Response; created.Status != "in_progress" || len(created.Output) != 0 {
		t.Errorf("response.created shows later state: %+v", created)
	}
}
