package gateway

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/convo"
	"aiservice/service/internal/wire"
)

// Responder is the Responses API use case: a request is continued from its stored
// conversation (previous_response_id), sent as a chat completion through the gateway's one
// retry and fallback loop, translated back, and stored when `store` asks.
type Responder struct {
	g   *Gateway
	log *convo.Log
	now func() time.Time
	// maxBytes bounds what a translated stream accumulates (the text and arguments that
	// response.completed repeats), as upstream.max_response_bytes bounds one answer.
	maxBytes int64
}

// NewResponder serves Responses through g, keeping stored responses in log; a translated
// stream may accumulate at most maxBytes of upstream chunks.
func NewResponder(g *Gateway, log *convo.Log, now func() time.Time, maxBytes int64) *Responder {
	return &Responder{g: g, log: log, now: now, maxBytes: maxBytes}
}

// newResponseID is OpenAI's shape of id: "resp_" and random letters and digits.
func newResponseID() string { return "resp_" + strings.ToLower(rand.Text()) }

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
