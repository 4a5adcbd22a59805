package sim

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"aiservice/service/internal/convo"
	"aiservice/service/internal/sse"
	"aiservice/service/internal/translate"
	"aiservice/service/internal/wire"
)

// Bounds of the simulator's own stored responses (it is a test double: small is enough).
const (
	simStoreEntries = 1000
	simStoreBytes   = 16 << 20
	simStoreTTL     = time.Hour
)

// responses is OpenAI's POST /v1/responses, answered with the chat logic (structured outputs,
// tools, streams) through the same translation the gateway uses for chat-only upstreams, and
// with a store of its own for previous_response_id — as OpenAI's upstream has.
func (s *Server) responses(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	if s.Behaviour().ChatOnly {
		writeError(w, http.StatusNotFound, "invalid_request_error", "unknown route POST /v1/responses (the simulator runs chat-only)", 0)
		return
	}
	var rr wire.ResponsesRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&rr); err != nil {
		badRequest(w, "invalid JSON body: "+err.Error())
		return
	}
	req, prior, ok := s.responsesChat(w, r.Context(), &rr)
	if !ok {
		return
	}
	c, b, ok := s.beginAnswer(w, r, req.Model, rr.Stream)
	defer c.end()
	if !ok {
		return
	}
	rep, err := answer(req, b, 0)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	resp := translate.NewResponse(&rr, "resp_sim"+strings.ToLower(rand.Text()), rr.Model, time.Now().Unix())
	answered := completion(rr.Model, []reply{rep}, b, "", 0, promptTokens(req))
	withLogprobs(req, &answered)
	if rr.Stream {
		c.completed = s.streamResponse(w, r, req, resp, rep, b, answered.Usage)
	} else {
		translate.Complete(resp, &answered)
		writeJSON(w, http.StatusOK, resp)
		c.completed = true
	}
	if c.completed && rr.Stored() {
		_ = s.stored.Save(r.Context(), convo.NewRecord(&rr, prior, resp))
	}
}

// responsesChat checks a Responses request and translates it, with its stored conversation,
// to the chat request the simulator answers.
func (s *Server) responsesChat(w http.ResponseWriter, ctx context.Context, rr *wire.ResponsesRequest) (*wire.ChatRequest, []wire.InputItem, bool) {
	if rr.Model == "" || !rr.Input.Set {
		badRequest(w, "model and input are required")
		return nil, nil, false
	}
	var prior []wire.InputItem
	if id := rr.PreviousResponseID; id != "" {
		rec, err := s.stored.Load(ctx, id)
		if errors.Is(err, convo.ErrNotFound) {
			writeError(w, http.StatusNotFound, "invalid_request_error", "Previous response with id '"+id+"' not found.", 0)
			return nil, nil, false
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, "server_error", err.Error(), 0)
			return nil, nil, false
		}
		prior = rec.Conversation
	}
	resolved, err := s.stored.Resolve(ctx, rr)
	if err != nil {
		writeError(w, http.StatusNotFound, "invalid_request_error", err.Error(), 0)
		return nil, nil, false
	}
	*rr = *resolved
	req, err := translate.ToChat(rr, prior)
	if err != nil {
		badRequest(w, err.Error())
		return nil, nil, false
	}
	return req, prior, true
}

// streamResponse streams a reply as Responses' typed events, with the chat stream's timing and
// faults (time to first token, inter-token delay, a cut after N content events).
func (s *Server) streamResponse(w http.ResponseWriter, r *http.Request, req *wire.ChatRequest, resp *wire.Response, rep reply, b Behaviour, u *wire.Usage) bool {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	ev := translate.NewEvents(resp)
	send := func(events []wire.ResponseEvent) bool {
		for _, e := range events {
			data, _ := json.Marshal(&e)
			if sse.WriteEvent(w, e.Type, data) != nil {
				return false
			}
		}
		return true
	}
	if !send(ev.Start()) || !wait(r, b.TimeToFirstToken) {
		return false
	}
	for i, d := range deltas(rep, b.Chunks) {
		if i > 0 && !wait(r, b.InterTokenDelay) {
			return false
		}
		if b.CutStreamAfter > 0 && i >= b.CutStreamAfter {
			dropConnection(w)
			return false
		}
		ch := wire.ChunkChoice{Delta: d}
		if want, top := req.WantsLogprobs(); want && d.Content != "" {
			ch.Logprobs = &wire.ChoiceLogprobs{Content: logprobs(d.Content, top)}
		}
		if !send(ev.Chunk(&wire.Chunk{Choices: []wire.ChunkChoice{ch}})) {
			return false
		}
	}
	finish := rep.finishReason
	return send(ev.Chunk(&wire.Chunk{Choices: []wire.ChunkChoice{{FinishReason: &finish}}, Usage: u})) && send(ev.End())
}
