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
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/provider"
	"aiservice/service/internal/tokens"
	"aiservice/service/internal/wire"
)

// Result describes who served a request and what it cost.
type Result struct {
	Provider string  // configured provider name
	Model    string  // public model that served it (the primary or a fallback)
	CostUSD  float64 // valid when Priced
	Priced   bool
}

// Chat runs a non-streaming chat completion and decodes it (for agents, which read tool calls).
func (g *Gateway) Chat(ctx context.Context, apiRoute string, req *wire.ChatRequest) (*wire.ChatResponse, Result, error) {
	b, res, err := g.ChatRaw(ctx, apiRoute, req)
	if err != nil {
		return nil, res, err
	}
	var resp wire.ChatResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, res, apperr.Wrap(apperr.Upstream, err, "The upstream sent an invalid chat completion.")
	}
	return &resp, res, nil
}

// ChatRaw runs a non-streaming chat completion and returns the response body as bytes: the
// upstream's answer passed through, with `model` set to the public name and usage.cost_usd
// added. Only `model`, `usage` and the finish reasons are read; the rest is never decoded.
// route is the API route template (a metric label).
func (g *Gateway) ChatRaw(ctx context.Context, apiRoute string, req *wire.ChatRequest) ([]byte, Result, error) {
	primary, err := g.resolve(req.Model, "chat")
	if err != nil {
		return nil, Result{}, err
	}
	type out struct {
		body []byte
		res  Result
	}
	o, err := withFallback(ctx, g, primary, func(ctx context.Context, r *route) (out, error) {
		up := *req
		up.Model = r.model.Upstream()
		var fields []wire.Span
		var usage *wire.Usage
		body, _, err := attempt(ctx, g, r, "chat", false, func(ctx context.Context, span trace.Span) ([]byte, error) {
			b, err := r.provider.ChatRaw(ctx, &up)
			if err != nil {
				return nil, err
			}
			if fields, err = wire.ObjectFields(b, "model", "usage", "choices"); err != nil {
				return nil, &provider.StatusError{StatusCode: 502, Detail: wire.ErrorDetail{Message: "upstream sent an invalid chat completion", Type: "upstream_error"}}
			}
			usage = readUsage(b, fields[1])
			if span.IsRecording() {
				model, _ := wire.UnquoteString(b[max(fields[0].Start, 0):max(fields[0].End, 0)])
				g.annotate(span, model, usage, finishReasonsRaw(b, fields[2]))
				if g.record && fields[2].Found() {
					g.recordContent(span, &up, b[fields[2].Start:fields[2].End])
				}
			}
			return b, nil
		})
		if err != nil {
			return out{}, err
		}
		res := Result{Provider: r.provider.Name(), Model: r.model.Name}
		if usage == nil {
			if usage, body, err = estimateRaw(body, fields, req); err != nil {
				return out{}, err
			}
			g.cost.RecordEstimated(res.Provider, res.Model)
		}
		g.cost.RecordTokens(res.Provider, res.Model, usage.PromptTokens, usage.CompletionTokens)
		res.CostUSD, res.Priced = g.prices.Chat(r.model.Name, *usage)
		g.cost.RecordRequest(apiRoute, res.Provider, res.Model, res.CostUSD, res.Priced)
		return out{patch(body, fields[0], fields[1], r.quotedName, res), res}, nil
	})
	return o.body, o.res, err
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
		return nil, nil, apperr.Wrap(apperr.Upstream, err, "The upstream sent an invalid chat completion.")
	}
	resp.Usage = estimated(promptTokens(req), outputRunes(&resp))
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
func patch(body []byte, m, u wire.Span, quoted []byte, res Result) []byte {
	var buf [2]wire.Edit
	edits := buf[:0]
	if m.Found() && !bytes.Equal(body[m.Start:m.End], quoted) {
		edits = append(edits, wire.Edit{At: m.Start, End: m.End, With: quoted})
	}
	if res.Priced && u.Found() && body[u.Start] == '{' {
		num, _ := json.Marshal(res.CostUSD) // the same number format as every other JSON body
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

// promptTokens estimates a request's input tokens.
func promptTokens(req *wire.ChatRequest) int {
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
func (g *Gateway) Images(ctx context.Context, apiRoute string, req *wire.ImageRequest) (*wire.ImageResponse, Result, error) {
	primary, err := g.resolve(req.Model, "image")
	if err != nil {
		return nil, Result{}, err
	}
	type out struct {
		resp *wire.ImageResponse
		res  Result
	}
	o, err := withFallback(ctx, g, primary, func(ctx context.Context, r *route) (out, error) {
		up := *req
		up.Model = r.model.Upstream()
		resp, _, err := attempt(ctx, g, r, "generate_content", false, func(ctx context.Context, span trace.Span) (*wire.ImageResponse, error) {
			span.SetAttributes(attribute.String("gen_ai.output.type", "image"))
			resp, err := r.provider.Images(ctx, &up)
			if err == nil {
				span.SetAttributes(attribute.String("gen_ai.response.model", r.model.Upstream()))
			}
			return resp, err
		})
		if err != nil {
			return out{}, err
		}
		res := Result{Provider: r.provider.Name(), Model: r.model.Name}
		res.CostUSD, res.Priced = g.prices.Image(r.model.Name, req.Size, req.Quality, len(resp.Data))
		resp.Usage = &wire.ImageUsage{Images: len(resp.Data)}
		if res.Priced {
			resp.Usage.CostUSD = &res.CostUSD
		}
		resp.Model = ""
		g.cost.RecordRequest(apiRoute, res.Provider, res.Model, res.CostUSD, res.Priced)
		return out{resp, res}, nil
	})
	return o.resp, o.res, err
}

// Stream is an open chat stream. Next returns chunks with the public model name; when the
// upstream sends its usage chunk, the chunk carries usage.cost_usd; when the upstream ends
// without usage, Next returns an estimated usage chunk before io.EOF. Close records tokens and
// cost — also for a stream cut short — and must always be called.
type Stream struct {
	g        *Gateway
	route    string
	r        *route
	inner    provider.Stream
	span     trace.Span
	actx     context.Context // the attempt's context; its cause says which limit ended it
	cancel   context.CancelCauseFunc
	timer    *time.Timer
	idle     time.Duration
	release  func()
	Result   Result
	prompt   int // estimated prompt tokens
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

// ChatStream opens a streaming chat completion, with retries and fallback until the upstream
// answered with headers. After that nothing is retried: bytes may have reached the client.
func (g *Gateway) ChatStream(ctx context.Context, apiRoute string, req *wire.ChatRequest) (*Stream, error) {
	primary, err := g.resolve(req.Model, "chat")
	if err != nil {
		return nil, err
	}
	prompt := promptTokens(req)
	return withFallback(ctx, g, primary, func(ctx context.Context, r *route) (*Stream, error) {
		up := *req
		up.Model = r.model.Upstream()
		// The attempt gets its own cancellable context so the first-token and idle limits can
		// end it with a cause the caller can tell apart from the route deadline.
		sctx, cancel := context.WithCancelCause(ctx)
		var span trace.Span
		inner, release, err := attempt(sctx, g, r, "chat", true, func(ctx context.Context, sp trace.Span) (provider.Stream, error) {
			span = sp
			return r.provider.ChatStream(ctx, &up)
		})
		if err != nil {
			cancel(nil)
			return nil, err
		}
		// The attempt's span stays open over the body; Close annotates and ends it.
		s := &Stream{g: g, route: apiRoute, opened: time.Now(), r: r, inner: inner, span: span, actx: sctx, cancel: cancel, release: release,
			idle: g.timeouts.StreamIdle.D(), firstToken: g.timeouts.StreamFirstToken.D(), prompt: prompt,
			Result: Result{Provider: r.provider.Name(), Model: r.model.Name}}
		s.waitSince.Store(s.opened.UnixNano()) // the first-token limit runs from the moment the upstream answered
		s.timer = time.AfterFunc(s.firstToken, s.expire)
		return s, nil
	})
}

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
			if s.usage == nil {
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
	// The scan also validates the chunk: what is relayed is valid JSON.
	var f [5]wire.Span
	if err := wire.ObjectFieldsInto(f[:], raw, "id", "created", "model", "choices", "usage"); err != nil {
		return Event{}, s.fail(&provider.StatusError{StatusCode: 502, Detail: wire.ErrorDetail{Message: "upstream sent an invalid stream chunk", Type: "upstream_error"}})
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
	res := Result{Priced: false}
	usageOnly := false
	if u := f[4]; u.Found() && raw[u.Start] == '{' {
		usage := readUsage(raw, u)
		if usage != nil {
			s.usage = usage
			s.price(usage)
			res = s.Result
			usageOnly = empty
		}
	}
	out := patch(raw, f[2], f[4], s.r.quotedName, res)
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

// fail turns a mid-stream failure into the error the client sees, and marks the span.
func (s *Stream) fail(err error) error {
	s.ended = true
	out := toAppErr(err)
	var ae *apperr.Error
	if cause := context.Cause(s.actx); cause != nil && errors.As(cause, &ae) {
		out = ae // a stream limit or the shutdown
	} else if e := apperr.From(err); e.Kind == apperr.Timeout || e.Kind == apperr.Canceled {
		out = e
	}
	s.span.SetAttributes(attribute.String("error.type", errorType(out)))
	s.span.SetStatus(codes.Error, out.Error())
	return out
}

func (s *Stream) price(u *wire.Usage) {
	s.Result.CostUSD, s.Result.Priced = s.g.prices.Chat(s.r.model.Name, *u)
	if s.Result.Priced {
		cost := s.Result.CostUSD
		u.CostUSD = &cost
	}
}

// estimatedUsage builds the usage chunk for a stream whose upstream reported none.
func (s *Stream) estimatedUsage() Event {
	s.usage = s.estimate()
	s.price(s.usage)
	b, _ := json.Marshal(&wire.Chunk{ID: s.chunkID, Object: "chat.completion.chunk", Created: s.created, Model: s.Result.Model,
		Choices: []wire.ChunkChoice{}, Usage: s.usage})
	return Event{Data: b, UsageOnly: true}
}

func (s *Stream) estimate() *wire.Usage { return estimated(s.prompt, s.outRunes) }

// Usage is the final usage (exact or estimated); valid after the stream ended.
func (s *Stream) Usage() *wire.Usage { return s.usage }

// Close ends the upstream call and records tokens and cost, estimating them when the stream
// was cut before the upstream reported usage.
func (s *Stream) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.timer.Stop()
	// The body's time is upstream time too: the overhead metric must not count it.
	addUpstream(s.actx, time.Since(s.opened))
	err := s.inner.Close()
	s.cancel(nil)
	s.release()
	if s.usage == nil {
		s.usage = s.estimate()
		s.price(s.usage)
	}
	if s.usage.Estimated {
		s.g.cost.RecordEstimated(s.Result.Provider, s.Result.Model)
	}
	s.g.cost.RecordTokens(s.Result.Provider, s.Result.Model, s.usage.PromptTokens, s.usage.CompletionTokens)
	s.g.cost.RecordRequest(s.route, s.Result.Provider, s.Result.Model, s.Result.CostUSD, s.Result.Priced)
	s.g.annotate(s.span, s.Result.Model, s.usage, s.finish)
	s.span.End()
	return err
}
