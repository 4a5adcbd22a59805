package gateway

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/convo"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/provider"
	"aiservice/service/internal/translate"
	"aiservice/service/internal/wire"
)

// Responder is the Responses API use case: a request is continued from its stored
// conversation (previous_response_id), sent as a chat completion through the gateway's one
// retry and fallback loop, translated back, and stored when `store` asks.
type Responder struct {
	g   *Gateway
	log *convo.Log
	now func() time.Time
}

// NewResponder serves Responses through g, keeping stored responses in log.
func NewResponder(g *Gateway, log *convo.Log, now func() time.Time) *Responder {
	return &Responder{g: g, log: log, now: now}
}

// newResponseID is OpenAI's shape of id: "resp_" and random letters and digits.
func newResponseID() string { return "resp_" + strings.ToLower(rand.Text()) }

// Create answers a Responses request without streaming: the response object as JSON.
func (r *Responder) Create(ctx context.Context, req *wire.ResponsesRequest) ([]byte, *Call, error) {
	chat, prior, call, err := r.prepare(ctx, req)
	if err != nil {
		return nil, call, err
	}
	body, call, err := r.g.ChatRaw(ctx, chat)
	if err != nil {
		return nil, call, err
	}
	var answer wire.ChatResponse
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, call, call.fail(Classify(ctx, &provider.InvalidError{What: "chat completion"}))
	}
	resp := translate.NewResponse(req, newResponseID(), answer.Model, r.now().Unix())
	translate.Complete(resp, &answer)
	r.save(ctx, req, prior, resp)
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, call, call.fail(Classify(ctx, fmt.Errorf("encode response: %w", err)))
	}
	return b, call, nil
}

// prepare loads the conversation a request continues and translates it to chat. The Call it
// returns on failure is one that never reached a route.
func (r *Responder) prepare(ctx context.Context, req *wire.ResponsesRequest) (*wire.ChatRequest, []wire.InputItem, *Call, error) {
	call := &Call{Spend: cost.Spend{Model: req.Model}}
	var prior []wire.InputItem
	if id := req.PreviousResponseID; id != "" {
		rec, err := r.log.Load(ctx, id)
		if err != nil {
			return nil, nil, call, call.fail(ofKind(notFound(err, id, "previous_response_id"), NoVerdict))
		}
		prior = rec.Conversation
	}
	chat, err := translate.ToChat(req, prior)
	if err != nil {
		return nil, nil, call, call.fail(Classify(ctx, err))
	}
	return chat, prior, call, nil
}

// notFound is the client's error for a stored response that is not there: a 404, as OpenAI's;
// a store that failed is a 503.
func notFound(err error, id, param string) *apperr.Error {
	if !errors.Is(err, convo.ErrNotFound) {
		return apperr.Wrap(apperr.Unavailable, err, "The response store is unavailable.")
	}
	return &apperr.Error{Kind: apperr.NotFound, Code: "response_not_found", Param: param,
		Message: fmt.Sprintf("Response with id %q not found.", apperr.Excerpt(id))}
}

// save stores a finished response when the request asked for it. A store that fails does not
// fail the answer: the client still gets it, only a follow-up cannot find it.
func (r *Responder) save(ctx context.Context, req *wire.ResponsesRequest, prior []wire.InputItem, resp *wire.Response) {
	if !req.Stored() {
		return
	}
	if err := r.log.Save(ctx, convo.NewRecord(req, prior, resp)); err != nil {
		r.g.log.WarnContext(ctx, "response not stored", slog.String("response_id", resp.ID), slog.String("error", err.Error()))
	}
}

// Get returns a stored response as JSON.
func (r *Responder) Get(ctx context.Context, id string) ([]byte, error) {
	rec, err := r.log.Load(ctx, id)
	if err != nil {
		return nil, notFound(err, id, "")
	}
	return json.Marshal(&rec.Response)
}

// Delete removes a stored response.
func (r *Responder) Delete(ctx context.Context, id string) (*wire.DeletedResponse, error) {
	if err := r.log.Delete(ctx, id); err != nil {
		return nil, notFound(err, id, "")
	}
	return &wire.DeletedResponse{ID: id, Object: "response.deleted", Deleted: true}, nil
}

// InputItems lists a stored response's input items, as OpenAI's cursor pages: newest first
// unless asc, at most limit, after the item with id after (when given).
func (r *Responder) InputItems(ctx context.Context, id string, asc bool, limit int, after string) (*wire.InputItemList, error) {
	rec, err := r.log.Load(ctx, id)
	if err != nil {
		return nil, notFound(err, id, "")
	}
	items := rec.Input
	if !asc {
		items = make([]wire.InputItem, len(rec.Input))
		for i, it := range rec.Input {
			items[len(items)-1-i] = it
		}
	}
	if after != "" {
		for i, it := range items {
			if it.ID == after {
				items = items[i+1:]
				break
			}
		}
	}
	list := &wire.InputItemList{Object: "list", Data: items[:min(limit, len(items))], HasMore: len(items) > limit}
	if n := len(list.Data); n > 0 {
		list.FirstID, list.LastID = &list.Data[0].ID, &list.Data[n-1].ID
	}
	return list, nil
}

// ResponseStream is an open Responses stream: the chat stream under it, translated.
type ResponseStream struct {
	r       *Responder
	st      *Stream
	ev      *translate.Events
	req     *wire.ResponsesRequest
	prior   []wire.InputItem
	ctx     context.Context
	opening []wire.ResponseEvent // response.created and .in_progress, until sent
	ended   bool
}

// Stream opens a Responses stream, with retries and fallback until the upstream answered (as
// ChatStream). The Call is complete once the stream is closed.
func (r *Responder) Stream(ctx context.Context, req *wire.ResponsesRequest) (*ResponseStream, *Call, error) {
	chat, prior, call, err := r.prepare(ctx, req)
	if err != nil {
		return nil, call, err
	}
	st, call, err := r.g.ChatStream(ctx, chat)
	if err != nil {
		return nil, call, err
	}
	ev := translate.NewEvents(translate.NewResponse(req, newResponseID(), call.Model, r.now().Unix()))
	return &ResponseStream{r: r, st: st, ev: ev, req: req, prior: prior, ctx: ctx, opening: ev.Start()}, call, nil
}

// Next returns the events of the next chunk (the first call also the opening ones) and, at the
// end, the closing ones with response.completed; then io.EOF. A failure is returned as is: the
// caller ends the stream with Fail.
func (s *ResponseStream) Next() ([]wire.ResponseEvent, error) {
	for !s.ended {
		ev, err := s.st.Next()
		if errors.Is(err, io.EOF) {
			s.ended = true
			out := s.ev.End()
			s.r.save(s.ctx, s.req, s.prior, s.ev.Response())
			return s.open(out), nil
		}
		if err != nil {
			return nil, err
		}
		var c wire.Chunk
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			return nil, s.st.fail(&provider.InvalidError{What: "stream chunk"})
		}
		if out := s.open(s.ev.Chunk(&c)); len(out) > 0 {
			return out, nil
		}
	}
	return nil, io.EOF
}

// open puts the opening events before the first ones sent.
func (s *ResponseStream) open(out []wire.ResponseEvent) []wire.ResponseEvent {
	out, s.opening = append(s.opening, out...), nil
	return out
}

// Fail ends a stream cut by an error with Responses' closing events (error, response.failed).
func (s *ResponseStream) Fail(e *apperr.Error) []wire.ResponseEvent {
	s.ended = true
	code := e.Code
	if code == "" {
		code = e.Kind.String()
	}
	return s.open(s.ev.Fail(code, e.Message))
}

// Close ends the chat stream and completes the Call.
func (s *ResponseStream) Close() error { return s.st.Close() }
