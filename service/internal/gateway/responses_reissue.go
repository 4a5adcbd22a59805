package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"aiservice/service/internal/wire"
)

// Reissue makes a cached response this request's own. OpenAI's clients take a response id to
// be unique and, with `store`, retrievable and continuable: so a hit gets a fresh id (in the
// response and in the ids of its items, which name their response) and is stored as a call's
// answer would be, continuing the conversation the request names.
type Reissue struct {
	r          *Responder
	req        *wire.ResponsesRequest
	prior      []wire.InputItem
	old, fresh []byte
}

// Reissue prepares the replay of the cached response old for req. The conversation the request
// continues must still be there: when it is gone, the answer is the 404 a call would give.
func (r *Responder) Reissue(ctx context.Context, req *wire.ResponsesRequest, old string) (*Reissue, error) {
	t, _, err := r.turn(ctx, req)
	if err != nil {
		return nil, err
	}
	return &Reissue{r: r, req: t.resolved, prior: t.prior,
		old: []byte(strings.TrimPrefix(old, "resp_")), fresh: []byte(strings.TrimPrefix(newResponseID(), "resp_"))}, nil
}

// Body is a cached response object under its fresh id, stored when the request asks.
func (x *Reissue) Body(ctx context.Context, b []byte) []byte {
	b = x.rewrite(b)
	var resp wire.Response
	if json.Unmarshal(b, &resp) == nil {
		x.r.save(ctx, x.req, x.prior, &resp)
	}
	return b
}

// Event is a cached stream's event under the fresh id; the terminal one's response is stored.
func (x *Reissue) Event(ctx context.Context, name string, data []byte) []byte {
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
