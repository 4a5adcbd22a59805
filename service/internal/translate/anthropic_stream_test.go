package translate

import (
	"encoding/json"
	"strings"
	"testing"

	"aiservice/service/internal/wire"
)

// eventsOf decodes a stream's event data, one JSON object per line.
func eventsOf(t *testing.T, lines string) []wire.AEvent {
	t.Helper()
	var out []wire.AEvent
	for _, l := range strings.Split(strings.TrimSpace(lines), "\n") {
		var ev wire.AEvent
		if err := json.Unmarshal([]byte(strings.TrimSpace(l)), &ev); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out = append(out, ev)
	}
	return out
}

const toolStream = `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":1,"cache_read_input_tokens":5}}}
	{"type":"ping"}
	{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}
	{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let "}}
	{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"me."}}
	{"type":"content_block_stop","index":0}
	{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"calc","input":{}}}
	{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}
	{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}
	{"type":"content_block_stop","index":1}
	{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}
	{"type":"message_stop"}`

func TestEventTranslator(t *testing.T) {
	tr := NewEventTranslator(7)
	var chunks []*wire.Chunk
	for _, ev := range eventsOf(t, toolStream) {
		if c := tr.Event(&ev); c != nil {
			chunks = append(chunks, c)
		}
	}
	var text, args strings.Builder
	var finish string
	var usage *wire.Usage
	for _, c := range chunks {
		if c.ID != "msg_1" || c.Model != "claude" || c.Created != 7 || c.Object != "chat.completion.chunk" {
			t.Errorf("chunk header %+v", c)
		}
		if c.Usage != nil {
			usage = c.Usage
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
			for _, tc := range ch.Delta.ToolCalls {
				if *tc.Index != 0 {
					t.Errorf("tool call index %d, want 0", *tc.Index)
				}
				if tc.ID != "" && (tc.ID != "toolu_1" || tc.Function.Name != "calc") {
					t.Errorf("tool call start %+v", tc)
				}
				args.WriteString(tc.Function.Arguments)
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
	}
	if text.String() != "Let me." || args.String() != `{"a":1}` || finish != "tool_calls" {
		t.Errorf("text %q args %q finish %q", text.String(), args.String(), finish)
	}
	if usage == nil || usage.PromptTokens != 25 || usage.CompletionTokens != 9 || usage.PromptTokensDetails.CachedTokens != 5 {
		t.Errorf("usage %+v", usage)
	}
	if last := chunks[len(chunks)-1]; last.Usage == nil || len(last.Choices) != 0 {
		t.Errorf("the last chunk is not OpenAI's usage chunk: %+v", last)
	}
}

// TestStreamRoundTrip: Anthropic events → chat chunks → Anthropic events keeps the blocks,
// their order and content, the stop reason and the usage.
func TestStreamRoundTrip(t *testing.T) {
	in := eventsOf(t, toolStream)
	et, ct := NewEventTranslator(1), NewChunkTranslator("claude", 25)
	var out []wire.AEvent
	for _, ev := range in {
		if c := et.Event(&ev); c != nil {
			out = append(out, ct.Chunk(c)...)
		}
	}
	out = append(out, ct.End()...)
	types := func(evs []wire.AEvent) string {
		var s []string
		for _, e := range evs {
			if e.Type != "ping" {
				s = append(s, e.Type)
			}
		}
		return strings.Join(s, " ")
	}
	if a, b := types(in), types(out); a != b {
		t.Errorf("event types\n%s\n!=\n%s", a, b)
	}
	if got, want := accumulate(t, out), accumulate(t, in); got != want {
		t.Errorf("accumulated message\n%s\n!=\n%s", got, want)
	}
}

// accumulate builds the message a client SDK makes of a stream.
func accumulate(t *testing.T, evs []wire.AEvent) string {
	t.Helper()
	var m wire.MessagesResponse
	partial := map[int]string{}
	for _, ev := range evs {
		switch ev.Type {
		case "message_start":
			m = *ev.Message
		case "content_block_start":
			m.Content = append(m.Content, *ev.ContentBlock)
		case "content_block_delta":
			if ev.Delta.Type == "text_delta" {
				m.Content[*ev.Index].Text += ev.Delta.Text
			} else {
				partial[*ev.Index] += *ev.Delta.PartialJSON
			}
		case "message_delta":
			m.StopReason = ev.Delta.StopReason
			MergeDeltaUsage(&m.Usage, *ev.Usage)
		}
	}
	for i, p := range partial {
		m.Content[i].Input = json.RawMessage(p)
	}
	m.ID, m.Usage.InputTokens = "", m.Usage.InputTokens+m.Usage.CacheReadInputTokens+m.Usage.CacheCreationInputTokens
	m.Usage.CacheReadInputTokens, m.Usage.CacheCreationInputTokens = 0, 0
	b, _ := json.Marshal(m)
	return string(b)
}

func TestChunkTranslator(t *testing.T) {
	length := "length"
	zero, one := 0, 1
	chunks := []*wire.Chunk{
		{ID: "chatcmpl-1", Choices: []wire.ChunkChoice{{Delta: wire.Delta{Role: "assistant"}}}},
		{Choices: []wire.ChunkChoice{{Delta: wire.Delta{Content: "Hi"}}}},
		{Choices: []wire.ChunkChoice{{Delta: wire.Delta{ToolCalls: []wire.ToolCall{{Index: &zero, ID: "call_a", Function: wire.FunctionCall{Name: "f", Arguments: "{}"}}}}}}},
		{Choices: []wire.ChunkChoice{{Delta: wire.Delta{ToolCalls: []wire.ToolCall{{Index: &one, ID: "call_b", Function: wire.FunctionCall{Name: "g"}}}}}}},
		{Choices: []wire.ChunkChoice{{Delta: wire.Delta{ToolCalls: []wire.ToolCall{{Index: &one, Function: wire.FunctionCall{Arguments: `{"x":2}`}}}}}}},
		{Choices: []wire.ChunkChoice{{FinishReason: &length}}},
		{Choices: []wire.ChunkChoice{}, Usage: &wire.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}},
	}
	ct := NewChunkTranslator("pub", 2)
	var out []wire.AEvent
	for _, c := range chunks {
		out = append(out, ct.Chunk(c)...)
	}
	out = append(out, ct.End()...)
	var got []string
	for _, e := range out {
		s := e.Type
		if e.Index != nil {
			s += "#" + string(rune('0'+*e.Index))
		}
		got = append(got, s)
	}
	want := "message_start content_block_start#0 content_block_delta#0 content_block_stop#0 content_block_start#1 content_block_delta#1 " +
		"content_block_stop#1 content_block_start#2 content_block_delta#2 content_block_stop#2 message_delta message_stop"
	if strings.Join(got, " ") != want {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	if m := out[0].Message; m.ID != "msg_1" || m.Model != "pub" || m.Usage.InputTokens != 2 {
		t.Errorf("message_start %+v", m)
	}
	md := out[len(out)-2]
	if *md.Delta.StopReason != "max_tokens" || md.Usage.InputTokens != 3 || md.Usage.OutputTokens != 4 {
		t.Errorf("message_delta %+v %+v", md.Delta, md.Usage)
	}
	if b := out[7].ContentBlock; b.ID != "toolu_b" || b.Name != "g" || string(b.Input) != "{}" {
		t.Errorf("second tool block %+v", b)
	}
}
