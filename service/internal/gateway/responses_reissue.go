package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"aiservice/service/internal/wire"
)

// Reissue makes a cached response this request's own. OpenAI's clients take a response id to
// be unique and, with `store`, retrievable and continuable. Where the gateway makes the ids (a
// chat route: it translates and keeps the conversation), a hit gets a fresh id — in the
// response and in the ids of its items, which name their response — and is stored as a call's
// answer would be, continuing the conversation the request names. Where the upstream speaks
// Responses, the id is the upstream's and only the upstream can continue it: the hit is its
// response as is, which the upstream (and the gateway) already hold when `store` asked — so
// `store` is part of the cache key.
type Reissue struct {
	r          *Responder
	req        *wire.ResponsesRequest
	prior      []wire.InputItem
	old, fresh []byte // nil: the upstream's response, as is
}

// Reissue prepares the replay of the cached response old for req. The conversation the request
// continues must still be there: when it is gone, the answer is the 404 a call would give.
func (r *Responder) Reissue(ctx context.Context, req *wire.ResponsesRequest, old string) (*Reissue, error) {
	t, _, err := r.turn(ctx, req)
	if err != nil {
		return nil, err
	}
	x := &Reissue{r: r, req: t.resolved, prior: t.prior}
	if !t.primary.speaksResponses() {
		x.old, x.fresh = []byte(strings.TrimPrefix(old, "resp_")), []byte(strings.TrimPrefix(newResponseID(), "resp_"))
	}
	return x, nil
}

// Body is a cached response object under its fresh id, stored when the request asks (the
// upstream's as is).
func (x *Reissue) Body(ctx context.Context, b []byte) []byte {
	if x.fresh == nil {
		return b
	}
	b = x.rewrite(b)
	var resp wire.Response
	if json.Unmarshal(b, &resp) == nil {
		x.r.save(ctx, x.req, x.prior, &resp)
	}
	return b
}

// Event is a cached stream's event under the fresh id; the terminal one's response is stored
// (the upstream's as is).
func (x *Reissue) Event(ctx context.Context, name string, data []byte) []byte {
	if x.fresh == nil {
		return data
	}
	data = x.rewrite(data)
	if name == "response.completed" || name == "response.incomplete" {
		var with struct {
			Response *wire.Response `json:"response"`
		}
		if json.Unmarshal(data, &with) == nil && with.Response != nil {
			x.r.save(ctx, x.req, x.prior, with.Response)
		}
	}
	return data
}

// rewrite swaps the old id's random part for the fresh one's: the response id and every item
// id derived from it (translate.ItemID). The random part is long enough not to occur elsewhere.
func (x *Reissue) rewrite(b []byte) []byte {
	if len(x.old) < 8 {
		return b
	}
	return bytes.ReplaceAll(b, x.old, x.fresh)
}
