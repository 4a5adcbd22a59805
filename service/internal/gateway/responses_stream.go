package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/provider"
	"aiservice/service/internal/translate"
	"aiservice/service/internal/wire"
)

// ResponseStream is an open Responses stream: the upstream's typed events passed through, or
// a chat stream translated.
type ResponseStream struct {
	r       *Responder
	st      *Stream
	ev      *translate.Events // nil when the upstream's own events pass through
	req     *wire.ResponsesRequest
	prior   []wire.InputItem
	ctx     context.Context
	opening []wire.ResponseEvent // response.created and .in_progress, until sent
	relayed int                  // events passed through so far
	read    int64                // bytes of chat chunks translated so far
	last    *wire.Response       // the response as the last passed-through event carrying it showed it
	ended   bool
}

// Stream opens a Responses stream, with retries and fallback until the upstream answered (as
// ChatStream), each route in its own dialect. The Call is complete once the stream is closed.
func (r *Responder) Stream(ctx context.Context, req *wire.ResponsesRequest) (*ResponseStream, *Call, error) {
	t, call, err := r.turn(ctx, req)
	if err != nil {
		return nil, call, err
	}
	primary, prior, resolved := t.primary, t.prior, t.resolved
	var chat *wire.ChatRequest
	o, a, err := send(ctx, r.g, call, primary, "chat", true, func(ctx context.Context, rt *route, _ trace.Span) (opened, error) {
		if up, ok := speaks(rt); ok {
			return openTyped(ctx, rt, up, req)
		}
		var err error
		if chat, err = translate.ToChat(resolved, prior); err != nil {
			return opened{}, err
		}
		o, err := openChat(ctx, rt, chat)
		return o, translate.InResponsesTerms(err)
	})
	if err != nil {
		return nil, call, err
	}
	s := &ResponseStream{r: r, req: req, prior: prior, ctx: ctx}
	if o.events == responsesEvents {
		s.st = r.g.newStream(a, o, call, ResponsesInputTokens(req))
		return s, call, nil
	}
	s.st = r.g.newStream(a, o, call, PromptTokens(chat))
	s.req = resolved // what is stored is what the model was asked
	s.ev = translate.NewEvents(translate.NewResponse(req, newResponseID(), call.Model, r.now().Unix()))
	s.opening = s.ev.Start()
	return s, call, nil
}

// openTyped opens a Responses stream on a route that speaks them.
func openTyped(ctx context.Context, rt *route, up provider.ResponsesUpstream, req *wire.ResponsesRequest) (opened, error) {
	return openOn(ctx, rt, responsesEvents, func(ctx context.Context, rt *route) (provider.RawStream, error) {
		in := *req
		in.Model = rt.model.Upstream()
		return up.ResponsesStream(ctx, &in)
	})
}

// Next returns the next events — one passed through, or those of the next translated chunk
// (the first call also the opening ones, the last the closing ones with response.completed)
// — then io.EOF. A failure is returned as is: the caller ends the stream with Fail.
func (s *ResponseStream) Next() ([]Event, error) {
	if s.ev == nil {
		return s.nextTyped()
	}
	for !s.ended {
		ev, err := s.st.Next()
		if errors.Is(err, io.EOF) {
			s.ended = true
			out := s.ev.End()
			s.r.save(s.ctx, s.req, s.prior, s.ev.Response())
			return s.encode(out)
		}
		if err != nil {
			return nil, err
		}
		if s.read += int64(len(ev.Data)); s.read > s.r.maxBytes {
			return nil, s.st.fail(&provider.StatusError{StatusCode: http.StatusBadGateway, Err: provider.ErrResponseTooLarge,
				Detail: wire.ErrorDetail{Message: "the upstream's stream is larger than upstream.max_response_bytes", Type: "upstream_error"}})
		}
		var c wire.Chunk
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			return nil, s.st.fail(&provider.InvalidError{What: "stream chunk"})
		}
		if out := s.ev.Chunk(&c); len(out) > 0 || s.opening != nil {
			return s.encode(out)
		}
	}
	return nil, io.EOF
}

// nextTyped passes the upstream's next event through; the terminal one's response is stored.
func (s *ResponseStream) nextTyped() ([]Event, error) {
	ev, err := s.st.Next()
	if err != nil {
		return nil, err
	}
	s.relayed++
	if ev.Carries {
		var with struct {
			Response *wire.Response `json:"response"`
		}
		if json.Unmarshal(ev.Data, &with) == nil && with.Response != nil && with.Response.ID != "" {
			s.last = with.Response
			if ev.Name == "response.completed" || ev.Name == "response.incomplete" {
				s.r.save(s.ctx, s.req, s.prior, s.last)
			}
		}
	}
	return []Event{ev}, nil
}

// encode turns translated events into SSE events, the opening ones first.
func (s *ResponseStream) encode(evs []wire.ResponseEvent) ([]Event, error) {
	evs, s.opening = append(s.opening, evs...), nil
	out := make([]Event, len(evs))
	for i := range evs {
		b, err := json.Marshal(&evs[i])
		if err != nil {
			return nil, fmt.Errorf("encode stream event: %w", err)
		}
		out[i] = Event{Name: evs[i].Type, Data: b}
	}
	return out, nil
}

// Fail ends a stream cut by an error in Responses' terms: an `error` event (and, for a
// translated stream, response.failed with what was produced).
func (s *ResponseStream) Fail(e *apperr.Error) []Event {
	s.ended = true
	code := e.Code
	if code == "" {
		code = e.Kind.String()
	}
	if s.ev != nil {
		out, _ := s.encode(s.ev.Fail(code, e.Message))
		return out
	}
	out := make([]Event, 0, 2)
	b, _ := json.Marshal(&wire.ResponseEvent{Type: "error", SequenceNumber: s.relayed, Code: &code, Message: e.Message})
	out = append(out, Event{Name: "error", Data: b})
	if s.last != nil { // what the upstream said of the response so far, failed
		failed := *s.last
		failed.Status, failed.Error = "failed", &wire.ResponseError{Code: code, Message: e.Message}
		b, _ = json.Marshal(&wire.ResponseEvent{Type: "response.failed", SequenceNumber: s.relayed + 1, Response: &failed})
		out = append(out, Event{Name: "response.failed", Data: b})
	}
	return out
}

// Close ends the stream and completes the Call.
func (s *ResponseStream) Close() error { return s.st.Close() }

// relayTyped relays one Responses event of an upstream that speaks them: it counts the text
// produced (deltas) and, where the event carries the response, patches in the public model
// and — once the usage is there (response.completed) — prices it and adds usage.cost_usd.
func (s *Stream) relayTyped(raw []byte) (Event, error) {
	var f [3]wire.Span
	if err := wire.ObjectFieldsInto(f[:], raw, "type", "delta", "response"); err != nil || !f[0].Found() {
		return Event{}, s.fail(&provider.InvalidError{What: "stream event"})
	}
	name, _ := wire.UnquoteString(raw[f[0].Start:f[0].End])
	if d := f[1]; d.Found() && raw[d.Start] == '"' {
		if text, ok := wire.UnquoteString(raw[d.Start:d.End]); ok {
			s.outRunes += utf8.RuneCountInString(text)
		}
	}
	rs := f[2]
	if !rs.Found() || raw[rs.Start] != '{' {
		return Event{Data: raw, Name: name}, nil
	}
	out := Event{Name: name, Carries: true}
	inner := raw[rs.Start:rs.End]
	var g [2]wire.Span
	if wire.ObjectFieldsInto(g[:], inner, "model", "usage") != nil {
		return Event{}, s.fail(&provider.InvalidError{What: "stream event"})
	}
	usd, priced := 0.0, false
	if u := g[1]; u.Found() && inner[u.Start] == '{' {
		if usage, ok := provider.ParseResponseUsage(inner[u.Start:u.End]); ok {
			s.usage = usage
			s.price(usage)
			usd, priced = s.call.CostUSD, s.call.Priced
		}
	}
	patched := patch(inner, g[0], g[1], s.a.r.quotedName, usd, priced)
	out.Data = wire.Apply(raw, wire.Edit{At: rs.Start, End: rs.End, With: patched})
	return out, nil
}
