package translate

import (
	"encoding/json"

	"aiservice/service/internal/wire"
)

// EventTranslator turns Anthropic's stream events into OpenAI chat chunks, one event at a time
// (an OpenAI client on an Anthropic upstream). Blocks become one choice's deltas; tool_use
// blocks become tool calls numbered in order.
type EventTranslator struct {
	id, model string
	created   int64
	tools     map[int]int // block index → tool call index
	usage     wire.AUsage
}

// NewEventTranslator starts a translation; created is the chunks' timestamp.
func NewEventTranslator(created int64) *EventTranslator {
	return &EventTranslator{created: created, tools: map[int]int{}}
}

// Event translates one event: nil when it has no chunk of its own (ping, a block's stop).
// message_stop yields the usage chunk that ends an OpenAI stream.
func (t *EventTranslator) Event(ev *wire.AEvent) *wire.Chunk {
	switch ev.Type {
	case "message_start":
		if m := ev.Message; m != nil {
			t.id, t.model, t.usage = m.ID, m.Model, m.Usage
		}
		return t.chunk(wire.Delta{Role: "assistant"}, nil)
	case "content_block_start":
		if b := ev.ContentBlock; b != nil && b.Type == "tool_use" && ev.Index != nil {
			n := len(t.tools)
			t.tools[*ev.Index] = n
			return t.chunk(wire.Delta{ToolCalls: []wire.ToolCall{{Index: &n, ID: b.ID, Type: "function",
				Function: wire.FunctionCall{Name: b.Name}}}}, nil)
		}
	case "content_block_delta":
		d := ev.Delta
		if d == nil {
			return nil
		}
		switch {
		case d.Type == "text_delta":
			return t.chunk(wire.Delta{Content: d.Text}, nil)
		case d.Type == "input_json_delta" && d.PartialJSON != nil && ev.Index != nil:
			n, ok := t.tools[*ev.Index]
			if !ok {
				return nil
			}
			return t.chunk(wire.Delta{ToolCalls: []wire.ToolCall{{Index: &n, Function: wire.FunctionCall{Arguments: *d.PartialJSON}}}}, nil)
		}
	case "message_delta":
		if u := ev.Usage; u != nil {
			MergeDeltaUsage(&t.usage, *u)
		}
		if d := ev.Delta; d != nil && d.StopReason != nil {
			finish := FinishReason(*d.StopReason)
			return t.chunk(wire.Delta{}, &finish)
		}
	case "message_stop":
		c := t.chunk(wire.Delta{}, nil)
		c.Choices, c.Usage = []wire.ChunkChoice{}, UsageFromAnthropic(t.usage)
		return c
	}
	return nil
}

// MergeDeltaUsage folds a message_delta's usage into message_start's: its counts are
// cumulative, and its input counts are there only sometimes.
func MergeDeltaUsage(into *wire.AUsage, d wire.AUsage) {
	into.OutputTokens = d.OutputTokens
	if d.InputTokens > 0 || d.CacheReadInputTokens > 0 || d.CacheCreationInputTokens > 0 {
		into.InputTokens, into.CacheReadInputTokens, into.CacheCreationInputTokens = d.InputTokens, d.CacheReadInputTokens, d.CacheCreationInputTokens
	}
}

func (t *EventTranslator) chunk(d wire.Delta, finish *string) *wire.Chunk {
	return &wire.Chunk{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model,
		Choices: []wire.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}
}

// ChunkTranslator turns OpenAI chat chunks into Anthropic's stream events (an Anthropic client
// on an OpenAI-compatible upstream): message_start first, a block per run of text or per tool
// call, message_delta and message_stop once the upstream ended (End).
type ChunkTranslator struct {
	model   string
	input   int // message_start's input_tokens until the upstream's usage is known
	started bool
	open    int    // index of the open block; -1 when none
	kind    string // "text" or "tool_use": the open block's
	blocks  int    // blocks opened so far
	tools   map[int]int
	stop    string
	usage   *wire.Usage
}

// NewChunkTranslator starts a translation; model is the one the client asked for, input the
// estimated prompt tokens for message_start (OpenAI reports usage only at the end; clients
// that size their context from message_start would otherwise read 0).
func NewChunkTranslator(model string, input int) *ChunkTranslator {
	return &ChunkTranslator{model: model, input: input, open: -1, tools: map[int]int{}}
}

// Chunk translates one chunk into the events it makes (maybe none).
func (t *ChunkTranslator) Chunk(c *wire.Chunk) []wire.AEvent {
	var out []wire.AEvent
	if !t.started {
		t.started = true
		out = append(out, wire.AEvent{Type: "message_start", Message: &wire.MessagesResponse{ID: messageID(c.ID), Type: "message",
			Role: "assistant", Model: t.model, Content: []wire.ABlock{}, Usage: wire.AUsage{InputTokens: t.input}}})
	}
	if c.Usage != nil {
		t.usage = c.Usage
	}
	if len(c.Choices) == 0 {
		return out
	}
	ch := c.Choices[0] // an Anthropic message is one choice: n > 1 is refused before
	if ch.Delta.Content != "" {
		if t.kind != "text" {
			out = t.begin(out, wire.ABlock{Type: "text", Text: ""}, "text")
		}
		out = append(out, wire.AEvent{Type: "content_block_delta", Index: ptr(t.open), Delta: &wire.ADelta{Type: "text_delta", Text: ch.Delta.Content}})
	}
	for _, tc := range ch.Delta.ToolCalls {
		i := 0
		if tc.Index != nil {
			i = *tc.Index
		}
		if _, seen := t.tools[i]; !seen || tc.ID != "" && t.kind != "tool_use" {
			out = t.begin(out, wire.ABlock{Type: "tool_use", ID: toolUseID(tc.ID), Name: tc.Function.Name, Input: json.RawMessage(`{}`)}, "tool_use")
			t.tools[i] = t.open
		}
		if tc.Function.Arguments != "" {
			args := tc.Function.Arguments
			out = append(out, wire.AEvent{Type: "content_block_delta", Index: ptr(t.tools[i]), Delta: &wire.ADelta{Type: "input_json_delta", PartialJSON: &args}})
		}
	}
	if ch.FinishReason != nil {
		t.stop = StopReason(*ch.FinishReason)
		out = t.close(out)
	}
	return out
}

// End is the events after the upstream's last chunk: the open block's stop, message_delta
// (stop reason, usage) and message_stop.
func (t *ChunkTranslator) End() []wire.AEvent {
	out := t.close(nil)
	if t.stop == "" {
		t.stop = "end_turn"
	}
	u := UsageToAnthropic(t.usage)
	stop := t.stop
	return append(out, wire.AEvent{Type: "message_delta", Delta: &wire.ADelta{StopReason: &stop}, Usage: &u},
		wire.AEvent{Type: "message_stop"})
}

func (t *ChunkTranslator) begin(out []wire.AEvent, b wire.ABlock, kind string) []wire.AEvent {
	out = t.close(out)
	t.open, t.kind = t.blocks, kind
	t.blocks++
	return append(out, wire.AEvent{Type: "content_block_start", Index: ptr(t.open), ContentBlock: &b})
}

func (t *ChunkTranslator) close(out []wire.AEvent) []wire.AEvent {
	if t.open < 0 {
		return out
	}
	out = append(out, wire.AEvent{Type: "content_block_stop", Index: ptr(t.open)})
	t.open, t.kind = -1, ""
	return out
}
