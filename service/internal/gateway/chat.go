package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/provider"
	"aiservice/service/internal/tokens"
	"aiservice/service/internal/wire"
)

// Chat runs a non-streaming chat completion and decodes it (for agents, which read tool calls).
func (g *Gateway) Chat(ctx context.Context, req *wire.ChatRequest) (*wire.ChatResponse, *Call, error) {
	b, call, err := g.ChatRaw(ctx, req)
	if err != nil {
		return nil, call, err
	}
	var resp wire.ChatResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, call, call.fail(Classify(ctx, &provider.InvalidError{What: "chat completion"}))
	}
	return &resp, call, nil
}

// rawAnswer is an upstream's chat completion as bytes, with the spans of the fields the
// gateway reads (model, usage, choices) and the usage when it had one.
type rawAnswer struct {
	body   []byte
	fields []wire.Span
	usage  *wire.Usage
}

// ChatRaw runs a non-streaming chat completion and returns the response body as bytes: the
// upstream's answer passed through, with `model` set to the public name and usage.cost_usd
// added. Only `model`, `usage` and the finish reasons are read; the rest is never decoded.
func (g *Gateway) ChatRaw(ctx context.Context, req *wire.ChatRequest) ([]byte, *Call, error) {
	primary, call, err := g.resolve(req.Model, "chat")
	if err != nil {
		return nil, call, err
	}
	ans, a, err := send(ctx, g, call, primary, "chat", false, func(ctx context.Context, r *route, span trace.Span) (rawAnswer, error) {
		return g.chatOnce(ctx, r, span, req)
	})
	if err != nil {
		return nil, call, err
	}
	if ans.usage == nil {
		if ans.usage, ans.body, err = estimateRaw(ans.body, ans.fields, req); err != nil {
			return nil, call, call.fail(Classify(ctx, err))
		}
	}
	call.price(g.prices, ans.usage)
	return patch(ans.body, ans.fields[0], ans.fields[1], a.r.quotedName, call.CostUSD, call.Priced), call, nil
}

// chatOnce is one attempt of a non-streaming chat completion on a route: the upstream's answer
// with the spans the gateway patches, its span annotated. The provider already scanned the
// answer (provider.ReadCompletion): its spans and usage are used as they are.
func (g *Gateway) chatOnce(ctx context.Context, r *route, span trace.Span, req *wire.ChatRequest) (rawAnswer, error) {
	up := *req
	up.Model = r.model.Upstream()
	c, err := r.provider.ChatRaw(ctx, &up)
	if err != nil {
		return rawAnswer{}, err
	}
	b := c.Body
	if span.IsRecording() {
		model, _ := wire.UnquoteString(b[max(c.Model.Start, 0):max(c.Model.End, 0)])
		g.annotate(span, model, c.Parsed, finishReasonsRaw(b, c.Choices))
		if g.record && c.Choices.Found() {
			g.recordContent(span, &up, b[c.Choices.Start:c.Choices.End])
		}
	}
	return rawAnswer{body: b, fields: []wire.Span{c.Model, c.Usage, c.Choices}, usage: c.Parsed}, nil
}

// readUsage decodes the usage object of a raw answer; nil when absent or not an object.
func readUsage(body []byte, u wire.Span) *wire.Usage {
	if !u.Found() || body[u.Start] != '{' {
		return nil
	}
	usage, _ := wire.ParseUsage(body[u.Start:u.End])
	return usage
}

// estimateRaw handles an answer without usage: it is decoded once to estimate the usage from
// the output, and re-encoded with the estimate in place (f is updated to the new body).
func estimateRaw(body []byte, f []wire.Span, req *wire.ChatRequest) (*wire.Usage, []byte, error) {
	var resp wire.ChatResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, nil, &provider.InvalidError{What: "chat completion"}
	}
	resp.Usage = estimated(PromptTokens(req), outputRunes(&resp))
	b, err := json.Marshal(&resp)
	if err != nil {
		return nil, nil, fmt.Errorf("re-encode chat completion: %w", err)
	}
	nf, err := wire.ObjectFields(b, "model", "usage", "choices")
	if err != nil {
		return nil, nil, fmt.Errorf("re-scan chat completion: %w", err)
	}
	copy(f, nf)
	return resp.Usage, b, nil
}

// patch writes the public model name (quoted JSON) and usage.cost_usd into a raw answer.
func patch(body []byte, m, u wire.Span, quoted []byte, usd float64, priced bool) []byte {
	var buf [2]wire.Edit
	edits := buf[:0]
	if m.Found() && !bytes.Equal(body[m.Start:m.End], quoted) {
		edits = append(edits, wire.Edit{At: m.Start, End: m.End, With: quoted})
	}
	if priced && u.Found() && body[u.Start] == '{' {
		num, _ := json.Marshal(usd) // the same number format as every other JSON body
		field := append([]byte(`"cost_usd":`), num...)
		if inner := bytes.TrimSpace(body[u.Start+1 : u.End-1]); len(inner) > 0 {
			field = append(field, ',')
		}
		edits = append(edits, wire.Edit{At: u.Start + 1, End: u.Start + 1, With: field})
	}
	return wire.Apply(body, edits...)
}

// finishReasonsRaw reads the finish reasons of a raw answer's choices (for the span).
func finishReasonsRaw(body []byte, choices wire.Span) []string {
	if !choices.Found() {
		return nil
	}
	elems, err := wire.ArrayElements(body[choices.Start:choices.End])
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range elems {
		el := body[choices.Start+e.Start : choices.Start+e.End]
		if f, err := wire.ObjectFields(el, "finish_reason"); err == nil && f[0].Found() {
			if s, ok := wire.UnquoteString(el[f[0].Start:f[0].End]); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// PromptTokens estimates a chat request's input tokens (what a key's limits reserve).
func PromptTokens(req *wire.ChatRequest) int {
	texts := make([]string, len(req.Messages))
	for i, m := range req.Messages {
		texts[i] = m.Content.Text
	}
	return tokens.Prompt(texts)
}

// outputRunes counts the generated characters of a response (text and tool calls).
func outputRunes(resp *wire.ChatResponse) int {
	n := 0
	for _, c := range resp.Choices {
		n += utf8.RuneCountInString(c.Message.Content.Text)
		for _, tc := range c.Message.ToolCalls {
			n += utf8.RuneCountInString(tc.Function.Name) + utf8.RuneCountInString(tc.Function.Arguments)
		}
	}
	return n
}

// estimated is the usage the gateway reports when the upstream gave none.
func estimated(prompt, outRunes int) *wire.Usage {
	out := (outRunes + 3) / 4
	return &wire.Usage{PromptTokens: prompt, CompletionTokens: out, TotalTokens: prompt + out, Estimated: true}
}

// recordContent puts the prompt and the completion on the span — only when
// telemetry.record_content is on: they may hold personal data.
func (g *Gateway) recordContent(span trace.Span, req *wire.ChatRequest, choices []byte) {
	in, _ := json.Marshal(req.Messages)
	span.SetAttributes(attribute.String("gen_ai.input.messages", string(in)),
		attribute.String("gen_ai.output.messages", string(choices)))
}

// annotate adds the response attributes of the GenAI conventions to an attempt's span.
func (g *Gateway) annotate(span trace.Span, model string, u *wire.Usage, finish []string) {
	if !span.IsRecording() {
		return
	}
	// One SetAttributes call: each call grows the span's attribute slice.
	var buf [4]attribute.KeyValue
	attrs := append(buf[:0], attribute.String("gen_ai.response.model", model))
	if u != nil {
		attrs = append(attrs, attribute.Int("gen_ai.usage.input_tokens", u.PromptTokens),
			attribute.Int("gen_ai.usage.output_tokens", u.CompletionTokens))
	}
	if len(finish) > 0 {
		attrs = append(attrs, attribute.StringSlice("gen_ai.response.finish_reasons", finish))
	}
	span.SetAttributes(attrs...)
}

// Images generates images.
func (g *Gateway) Images(ctx context.Context, req *wire.ImageRequest) (*wire.ImageResponse, *Call, error) {
	primary, call, err := g.resolve(req.Model, "image")
	if err != nil {
		return nil, call, err
	}
	resp, _, err := send(ctx, g, call, primary, "generate_content", false, func(ctx context.Context, r *route, span trace.Span) (*wire.ImageResponse, error) {
		span.SetAttributes(attribute.String("gen_ai.output.type", "image"))
		up := *req
		up.Model = r.model.Upstream()
		resp, err := r.provider.Images(ctx, &up)
		if err == nil {
			span.SetAttributes(attribute.String("gen_ai.response.model", r.model.Upstream()))
		}
		return resp, err
	})
	if err != nil {
		return nil, call, err
	}
	call.CostUSD, call.Priced = g.prices.Image(call.Model, req.Size, req.Quality, len(resp.Data))
	resp.Usage = &wire.ImageUsage{Images: len(resp.Data)}
	if call.Priced {
		usd := call.CostUSD
		resp.Usage.CostUSD = &usd
	}
	resp.Model = ""
	return resp, call, nil
}

// Stream is an open chat stream: an iterator of chunks. Next returns chunks with the public
// model name; when the upstream sends its usage chunk, the chunk carries usage.cost_usd; when
// the upstream ends without usage, Next returns an estimated usage chunk before io.EOF. Close
// ends the attempt and completes the Call — usage estimated for a stream cut short — and must
// always be called.
type Stream struct {
	g     *Gateway
	a     attempt // the open attempt: its route, span and slot are the stream's until Close
	inner provider.RawStream
	// events says what the upstream sends: chat chunks (relay), Anthropic's events
	// (relayEvent) or Responses events (relayTyped). msgUsage is what an Anthropic stream's
	// message_start and message_delta reported so far.
	events   events
	msgUsage wire.AUsage
	ctx      context.Context // the attempt's; its cause says which limit ended it
	cancel   context.CancelCauseFunc
	call     *Call
	timer    *time.Timer
	idle     time.Duration
	// prompt is the estimated prompt tokens, outRunes the characters produced so far.
	prompt   int
	outRunes int
	usage    *wire.Usage
	finish   []string
	chunkID  string
	created  int64
	opened   time.Time
	started  atomic.Bool // a chunk arrived: the timer now enforces the idle limit
	// The limits count only time spent waiting on the upstream — a client slow to read is not
	// an idle upstream. waitSince is when the current wait began (unix ns, 0 while the
	// handler has a chunk in hand). The timer is not re-armed per chunk: when it fires it
	// works out from waitSince and the last read whether a limit really passed.
	waitSince  atomic.Int64
	closed     atomic.Bool // the timer must not re-arm itself after Close
	firstToken time.Duration
	ended      bool
}

// Stream limits: the cause of the attempt context's cancellation when they fire.
var (
	errFirstToken = &apperr.Error{Kind: apperr.Timeout, Code: "first_token_timeout", Message: "The upstream sent no token within the time-to-first-token limit."}
	errIdle       = &apperr.Error{Kind: apperr.Timeout, Code: "stream_idle_timeout", Message: "The upstream stream went idle for longer than the inter-chunk limit."}
)

// opened is an upstream stream that answered with headers, under the attempt's own
// cancellable context: the first-token and idle limits end it with a cause that Classify can
// tell apart from the route deadline.
type opened struct {
	inner  provider.RawStream
	ctx    context.Context
	cancel context.CancelCauseFunc
	events events
}

// events is the kind of events an upstream stream sends.
type events int

const (
	chatChunks      events = iota
	anthropicEvents        // a Messages stream passed through
	responsesEvents        // a Responses stream passed through (typed events)
)

// ChatStream opens a streaming chat completion, with retries and fallback until the upstream
// answered with headers. After that nothing is retried: bytes may have reached the client.
// The Call is the stream's: complete once the stream is closed (or now, when it failed to open).
func (g *Gateway) ChatStream(ctx context.Context, req *wire.ChatRequest) (*Stream, *Call, error) {
	return g.openStream(ctx, req.Model, PromptTokens(req), chatChunks, func(ctx context.Context, r *route) (provider.RawStream, error) {
		return chatStream(ctx, r, req)
	})
}

// chatStream asks a route's upstream for a chat stream of req.
func chatStream(ctx context.Context, r *route, req *wire.ChatRequest) (provider.RawStream, error) {
	up := *req
	up.Model = r.model.Upstream()
	return r.provider.ChatStream(ctx, &up)
}

// openStream is how a stream of one dialect opens: resolve the model, then send until an
// upstream answered with headers. prompt is the estimated prompt tokens, for a stream that
// ends without usage.
func (g *Gateway) openStream(ctx context.Context, model string, prompt int, ev events,
	open func(context.Context, *route) (provider.RawStream, error)) (*Stream, *Call, error) {
	primary, call, err := g.resolve(model, "chat")
	if err != nil {
		return nil, call, err
	}
	o, a, err := send(ctx, g, call, primary, "chat", true, func(ctx context.Context, r *route, _ trace.Span) (opened, error) {
		return openOn(ctx, r, ev, open)
	})
	if err != nil {
		return nil, call, err
	}
	return g.newStream(a, o, call, prompt), call, nil
}

// openOn opens a stream on a route under the attempt's own cancellable context.
func openOn(ctx context.Context, r *route, ev events, open func(context.Context, *route) (provider.RawStream, error)) (opened, error) {
	sctx, cancel := context.WithCancelCause(ctx)
	inner, err := open(sctx, r)
	if err != nil {
		cancel(nil)
		return opened{}, err
	}
	return opened{inner: inner, ctx: sctx, cancel: cancel, events: ev}, nil
}

// openChat opens a chat stream on a route (a translated Responses stream's upstream).
func openChat(ctx context.Context, r *route, req *wire.ChatRequest) (opened, error) {
	return openOn(ctx, r, chatChunks, func(ctx context.Context, r *route) (provider.RawStream, error) {
		return chatStream(ctx, r, req)
	})
}

// newStream starts the time limits of a stream that opened; prompt is its estimated input.
func (g *Gateway) newStream(a attempt, o opened, call *Call, prompt int) *Stream {
	s := &Stream{g: g, a: a, inner: o.inner, ctx: o.ctx, cancel: o.cancel, call: call, opened: time.Now(),
		idle: g.idle, firstToken: g.firstToken, prompt: prompt, events: o.events}
	s.waitSince.Store(s.opened.UnixNano()) // the first-token limit runs from the moment the upstream answered
	s.timer = time.AfterFunc(s.firstToken, s.expire)
	return s
}

// Produced is the output tokens the stream produced so far, estimated from its characters.
func (s *Stream) Produced() int { return (s.outRunes + 3) / 4 }

// Call is what the stream produced so far; complete once the stream is closed.
func (s *Stream) Call() *Call { return s.call }

// expire ends the attempt when the first-token or idle limit passed while waiting on the
// upstream with no bytes from it; otherwise it looks again when the limit could next pass.
// Bytes that arrived but are not yet a whole event push the limit back.
func (s *Stream) expire() {
	if s.closed.Load() {
		return
	}
	limit, cause := s.firstToken, errFirstToken
	if s.started.Load() {
		limit, cause = s.idle, errIdle
	}
	// Never look again later than one idle limit from now: this expiry may race with the first
	// chunk's arrival and read the first-token phase after Next has switched to the idle one.
	since := s.waitSince.Load()
	if since == 0 { // the handler is busy with a chunk: that time does not count
		s.timer.Reset(min(limit, s.idle))
		return
	}
	if last := s.inner.LastRead(); !last.IsZero() {
		since = max(since, last.UnixNano())
	}
	if rest := limit - time.Since(time.Unix(0, since)); rest > 0 {
		s.timer.Reset(min(rest, s.idle))
		return
	}
	s.cancel(cause)
}

// Event is one chunk to relay: its JSON (valid until the next call of Next), and whether it only
// carries usage (OpenAI sends that chunk only when stream_options.include_usage asks for it).
type Event struct {
	Data      []byte
	UsageOnly bool
	Name      string // the SSE event name: Anthropic's or Responses' event type; "" for chat chunks
	Carries   bool   // a Responses event that carries the response object
}

// Next returns the next chunk, or io.EOF at the end of the stream. Chunks are relayed as the
// upstream sent them — not decoded and re-encoded — except for the public model name and the
// cost added to the usage chunk; the content is only scanned to count what was produced.
func (s *Stream) Next() (Event, error) {
	if s.ended {
		return Event{}, io.EOF
	}
	if s.started.Load() {
		s.waitSince.Store(time.Now().UnixNano())
	}
	raw, err := s.inner.NextRaw()
	s.waitSince.Store(0)
	if err != nil {
		if errors.Is(err, io.EOF) {
			s.ended = true
			if s.usage == nil && s.events == chatChunks { // typed events have no usage event of their own to add
				return s.estimatedUsage(), nil
			}
			return Event{}, io.EOF
		}
		return Event{}, s.fail(err)
	}
	if !s.started.Swap(true) {
		// The timer was set for the first-token limit; from now on the idle limit rules.
		s.timer.Reset(s.idle)
	}
	switch s.events {
	case anthropicEvents:
		return s.relayEvent(raw)
	case responsesEvents:
		return s.relayTyped(raw)
	}
	return s.relay(raw)
}

// relay scans one chunk — which also validates it: what is relayed is valid JSON — counts what
// it produced, and patches in the public model name and, on the usage chunk, the cost.
func (s *Stream) relay(raw []byte) (Event, error) {
	var f [5]wire.Span
	if err := wire.ObjectFieldsInto(f[:], raw, "id", "created", "model", "choices", "usage"); err != nil {
		return Event{}, s.fail(&provider.InvalidError{What: "stream chunk"})
	}
	if s.chunkID == "" && f[0].Found() {
		s.chunkID, _ = wire.UnquoteString(raw[f[0].Start:f[0].End])
		if f[1].Found() {
			s.created, _ = strconv.ParseInt(string(raw[f[1].Start:f[1].End]), 10, 64)
		}
	}
	empty := true
	if ch := f[3]; ch.Found() {
		var buf [4]wire.Span
		elems, _ := wire.ArrayElementsInto(buf[:0], raw[ch.Start:ch.End])
		empty = len(elems) == 0
		for _, e := range elems {
			s.scanChoice(raw[ch.Start+e.Start : ch.Start+e.End])
		}
	}
	usd, priced, usageOnly := 0.0, false, false
	if u := f[4]; u.Found() && raw[u.Start] == '{' {
		usage := readUsage(raw, u)
		if usage != nil {
			s.usage = usage
			s.price(usage)
			usd, priced, usageOnly = s.call.CostUSD, s.call.Priced, empty
		}
	}
	out := patch(raw, f[2], f[4], s.a.r.quotedName, usd, priced)
	return Event{Data: out, UsageOnly: usageOnly}, nil
}

// Ready reports whether the next chunk is already received: the caller may then hold back its
// flush so both go out in one write, without delaying anything that would otherwise wait.
func (s *Stream) Ready() bool { return !s.ended && s.inner.Ready() }

// scanChoice counts the output of one streamed choice and notes its finish reason.
func (s *Stream) scanChoice(el []byte) {
	var f [2]wire.Span
	if wire.ObjectFieldsInto(f[:], el, "delta", "finish_reason") != nil {
		return
	}
	if fr := f[1]; fr.Found() && el[fr.Start] == '"' {
		if r, ok := wire.UnquoteString(el[fr.Start:fr.End]); ok {
			s.finish = append(s.finish, r)
		}
	}
	if !f[0].Found() || el[f[0].Start] != '{' {
		return
	}
	delta := el[f[0].Start:f[0].End]
	var d [2]wire.Span
	if wire.ObjectFieldsInto(d[:], delta, "content", "tool_calls") != nil {
		return
	}
	if c := d[0]; c.Found() && delta[c.Start] == '"' {
		inner := delta[c.Start+1 : c.End-1]
		if bytes.IndexByte(inner, '\\') < 0 {
			s.outRunes += utf8.RuneCount(inner)
		} else if text, ok := wire.UnquoteString(delta[c.Start:c.End]); ok {
			s.outRunes += utf8.RuneCountInString(text)
		}
	}
	if tc := d[1]; tc.Found() && delta[tc.Start] == '[' {
		var calls []wire.ToolCall
		if json.Unmarshal(delta[tc.Start:tc.End], &calls) == nil {
			for _, c := range calls {
				s.outRunes += utf8.RuneCountInString(c.Function.Name) + utf8.RuneCountInString(c.Function.Arguments)
			}
		}
	}
}

// fail classifies a mid-stream failure — under the attempt's context, whose cause names the
// limit or shutdown that ended it — records it on the Call and marks the span.
func (s *Stream) fail(err error) error {
	s.ended = true
	f := Classify(s.ctx, err)
	s.call.Failure = f
	markFailed(s.a.span, f)
	return f.Err
}

func (s *Stream) price(u *wire.Usage) {
	s.call.price(s.g.prices, u)
	if s.call.Priced {
		usd := s.call.CostUSD
		u.CostUSD = &usd
	}
}

// estimatedUsage builds the usage chunk for a stream whose upstream reported none.
func (s *Stream) estimatedUsage() Event {
	s.usage = estimated(s.prompt, s.outRunes)
	s.price(s.usage)
	b, _ := json.Marshal(&wire.Chunk{ID: s.chunkID, Object: "chat.completion.chunk", Created: s.created, Model: s.call.Model,
		Choices: []wire.ChunkChoice{}, Usage: s.usage})
	return Event{Data: b, UsageOnly: true}
}

// Close ends the upstream call and completes the Call, estimating the usage when the stream
// was cut before the upstream reported it.
func (s *Stream) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.timer.Stop()
	// The body's time is upstream time too: the overhead metric must not count it.
	s.call.Upstream += time.Since(s.opened)
	err := s.inner.Close()
	s.cancel(nil)
	if s.usage == nil {
		s.usage = estimated(s.prompt, s.outRunes)
		s.price(s.usage)
	}
	s.g.annotate(s.a.span, s.call.Model, s.usage, s.finish)
	s.a.end()
	return err
}
