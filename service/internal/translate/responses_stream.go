package translate

import (
	"encoding/json"
	"slices"
	"strings"

	"aiservice/service/internal/wire"
)

// Events turns a chat completion stream into the typed events of a Responses stream, numbered
// in order: Start, then Chunk for every chunk, then End (or Fail). Text deltas open a message
// item (output_item.added, content_part.added) and stream as output_text.delta; each tool call
// opens a function_call item whose arguments stream as function_call_arguments.delta; End closes
// every open item (…done events) and sends response.completed (or .incomplete) with the whole
// response and its usage.
type Events struct {
	r      *wire.Response
	seq    int
	items  []*streamItem // by output index
	text   *streamItem   // the message item text goes to, while open
	calls  map[int]*streamItem
	finish string
}

// streamItem is one output item being streamed.
type streamItem struct {
	index    int
	item     wire.OutputItem
	buf      strings.Builder // text or arguments so far
	logprobs []wire.Logprob  // of the text so far, when asked for
}

// NewEvents translates a stream whose response starts as r (from NewResponse).
func NewEvents(r *wire.Response) *Events { return &Events{r: r, calls: map[int]*streamItem{}} }

// Response is the response as streamed so far (final after End or Fail).
func (e *Events) Response() *wire.Response { return e.r }

func (e *Events) event(ev wire.ResponseEvent) wire.ResponseEvent {
	ev.SequenceNumber = e.seq
	e.seq++
	return ev
}

// snapshot copies the response, so an event keeps the state it was sent with.
func (e *Events) snapshot() *wire.Response {
	cp := *e.r
	cp.Output = slices.Clone(e.r.Output)
	return &cp
}

// Start is response.created and response.in_progress.
func (e *Events) Start() []wire.ResponseEvent {
	return []wire.ResponseEvent{
		e.event(wire.ResponseEvent{Type: "response.created", Response: e.snapshot()}),
		e.event(wire.ResponseEvent{Type: "response.in_progress", Response: e.snapshot()}),
	}
}

// Chunk translates one chat chunk (its first choice and its usage).
func (e *Events) Chunk(c *wire.Chunk) []wire.ResponseEvent {
	var out []wire.ResponseEvent
	if c.Usage != nil {
		e.r.Usage = Usage(c.Usage)
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue // a response has one output; n is a chat notion
		}
		if d := ch.Delta.Content; d != "" {
			var lp []wire.Logprob
			if ch.Logprobs != nil {
				lp = ch.Logprobs.Content
			}
			out = e.textDelta(out, d, lp)
		}
		for _, tc := range ch.Delta.ToolCalls {
			out = e.callDelta(out, tc)
		}
		if ch.FinishReason != nil {
			e.finish = *ch.FinishReason
		}
	}
	return out
}

func (e *Events) textDelta(out []wire.ResponseEvent, d string, lp []wire.Logprob) []wire.ResponseEvent {
	if e.text == nil {
		it := e.open(MessageItem(ItemID(e.r.ID, "msg", len(e.items)), "", "in_progress"))
		it.item.Content = []wire.OutputPart{}
		e.text = it
		added := it.item
		out = append(out, e.event(wire.ResponseEvent{Type: "response.output_item.added", OutputIndex: ptr(it.index), Item: &added}),
			e.event(wire.ResponseEvent{Type: "response.content_part.added", ItemID: it.item.ID, OutputIndex: ptr(it.index), ContentIndex: ptr(0),
				Part: &wire.OutputPart{Type: "output_text", Text: "", Annotations: emptyAnnotations()}}))
	}
	e.text.buf.WriteString(d)
	e.text.logprobs = append(e.text.logprobs, lp...)
	if lp == nil {
		lp = []wire.Logprob{}
	}
	return append(out, e.event(wire.ResponseEvent{Type: "response.output_text.delta", ItemID: e.text.item.ID,
		OutputIndex: ptr(e.text.index), ContentIndex: ptr(0), Delta: &d, Logprobs: lp}))
}

func (e *Events) callDelta(out []wire.ResponseEvent, tc wire.ToolCall) []wire.ResponseEvent {
	idx := 0
	if tc.Index != nil {
		idx = *tc.Index
	}
	it, ok := e.calls[idx]
	if !ok {
		e.text = nil // text after a call is a new message item
		empty := ""
		it = e.open(wire.OutputItem{Type: "function_call", ID: ItemID(e.r.ID, "fc", len(e.items)), Status: "in_progress",
			CallID: tc.ID, Name: tc.Function.Name, Arguments: &empty})
		e.calls[idx] = it
		added := it.item
		out = append(out, e.event(wire.ResponseEvent{Type: "response.output_item.added", OutputIndex: ptr(it.index), Item: &added}))
	}
	if d := tc.Function.Arguments; d != "" {
		it.buf.WriteString(d)
		out = append(out, e.event(wire.ResponseEvent{Type: "response.function_call_arguments.delta", ItemID: it.item.ID,
			OutputIndex: ptr(it.index), Delta: &d}))
	}
	return out
}

func (e *Events) open(item wire.OutputItem) *streamItem {
	it := &streamItem{index: len(e.items), item: item}
	e.items = append(e.items, it)
	return it
}

// End closes every item and completes the response.
func (e *Events) End() []wire.ResponseEvent {
	out := e.closeItems(nil, "completed")
	Finish(e.r, e.finish)
	typ := "response.completed"
	if e.r.Status == "incomplete" {
		typ = "response.incomplete"
	}
	return append(out, e.event(wire.ResponseEvent{Type: typ, Response: e.snapshot()}))
}

// Fail ends a stream cut by an error: an `error` event, then response.failed carrying it.
func (e *Events) Fail(code, message string) []wire.ResponseEvent {
	out := e.closeItems(nil, "incomplete")
	e.r.Status, e.r.Error = "failed", &wire.ResponseError{Code: code, Message: message}
	e.r.OutputText = OutputText(e.r.Output)
	c := code
	return append(out, e.event(wire.ResponseEvent{Type: "error", Code: &c, Message: message}),
		e.event(wire.ResponseEvent{Type: "response.failed", Response: e.snapshot()}))
}

// closeItems sends the …done events of every item in output order and puts the finished
// items in the response's output.
func (e *Events) closeItems(out []wire.ResponseEvent, status string) []wire.ResponseEvent {
	for _, it := range e.items {
		s := it.buf.String()
		it.item.Status = status
		idx := ptr(it.index)
		switch it.item.Type {
		case "message":
			part := wire.OutputPart{Type: "output_text", Text: s, Annotations: emptyAnnotations(), Logprobs: it.logprobs}
			it.item.Content = []wire.OutputPart{part}
			out = append(out, e.event(wire.ResponseEvent{Type: "response.output_text.done", ItemID: it.item.ID, OutputIndex: idx, ContentIndex: ptr(0), Text: &s, Logprobs: []wire.Logprob{}}),
				e.event(wire.ResponseEvent{Type: "response.content_part.done", ItemID: it.item.ID, OutputIndex: idx, ContentIndex: ptr(0), Part: &part}))
		case "function_call":
			it.item.Arguments = &s
			out = append(out, e.event(wire.ResponseEvent{Type: "response.function_call_arguments.done", ItemID: it.item.ID, OutputIndex: idx, Arguments: &s, Name: it.item.Name}))
		}
		done := it.item
		out = append(out, e.event(wire.ResponseEvent{Type: "response.output_item.done", OutputIndex: idx, Item: &done}))
		e.r.Output = append(e.r.Output, it.item)
	}
	e.items, e.text = nil, nil
	clear(e.calls)
	return out
}

func ptr[T any](v T) *T { return &v }

func emptyAnnotations() []json.RawMessage { return []json.RawMessage{} }
