package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/convo"
	"aiservice/service/internal/provider"
	"aiservice/service/internal/tokens"
	"aiservice/service/internal/translate"
	"aiservice/service/internal/wire"
)

// responseAnswer is one route's answer to a Responses request: the upstream's own response
// object (a route that speaks Responses) or a chat completion to translate (chat set).
type responseAnswer struct {
	rawAnswer                   // fields: model, usage, output — or the chat completion's
	chat      *wire.ChatRequest // the translated request, for a chat route
}

// speaks is a route's upstream when it speaks the Responses API itself.
func speaks(r *route) (provider.ResponsesUpstream, bool) {
	u, ok := r.provider.(provider.ResponsesUpstream)
	return u, ok && u.SpeaksResponses()
}

// speaksResponses reports whether a deployment of the model speaks the Responses API itself:
// ids the gateway does not hold may then be that upstream's own.
func (p *pool) speaksResponses() bool {
	for _, r := range p.routes {
		if _, ok := speaks(r); ok {
			return true
		}
	}
	return false
}

// Create answers a Responses request without streaming: the response object as JSON. Each
// route of the chain is asked in its own dialect: one that speaks Responses gets the client's
// bytes (only `model` changed) and its answer passes through with the public model and cost;
// a chat route gets the translation, and its answer is translated back.
func (r *Responder) Create(ctx context.Context, req *wire.ResponsesRequest) ([]byte, *Call, error) {
	t, call, err := r.turn(ctx, req)
	if err != nil {
		return nil, call, err
	}
	primary, prior, resolved := t.primary, t.prior, t.resolved
	ans, a, err := send(ctx, r.g, call, primary, "chat", false, func(ctx context.Context, rt *route, span trace.Span) (responseAnswer, error) {
		if up, ok := speaks(rt); ok {
			raw, err := passOnce(ctx, rt, up, req)
			return responseAnswer{rawAnswer: raw}, err
		}
		chat, err := translate.ToChat(resolved, prior)
		if err != nil {
			return responseAnswer{}, err
		}
		raw, err := r.g.chatOnce(ctx, rt, span, chat)
		return responseAnswer{rawAnswer: raw, chat: chat}, translate.InResponsesTerms(err)
	})
	if err != nil {
		return nil, call, err
	}
	var body []byte
	if ans.chat == nil {
		body, err = r.passed(ans.rawAnswer, a.r.quotedName, call, req)
	} else {
		body, err = r.translated(ans.rawAnswer, ans.chat, call, req)
	}
	if err != nil {
		return nil, call, call.fail(Classify(ctx, err))
	}
	var resp wire.Response
	if err := json.Unmarshal(body, &resp); err == nil {
		r.save(ctx, resolved, prior, &resp)
	}
	return body, call, nil
}

// references replaces the input's item_reference items by the stored items they name, for a
// chat upstream (one that speaks Responses resolves them itself from the bytes).
func (r *Responder) references(ctx context.Context, req *wire.ResponsesRequest) (*wire.ResponsesRequest, error) {
	out, err := r.log.Resolve(ctx, req)
	var ref *convo.RefError
	if errors.As(err, &ref) {
		e := notFound(ref.Err, ref.ID, fmt.Sprintf("input[%d].id", ref.Index))
		if e.Kind == apperr.NotFound {
			e.Code, e.Message = "item_not_found", fmt.Sprintf("Item with id %q not found.", apperr.Excerpt(ref.ID))
			e.Cause = ref // keeps convo.ErrNotFound visible to errors.Is
		}
		return nil, e
	}
	return out, err
}

// turn is what a Responses request starts from: its primary route, the conversation it
// continues, and the request with its item references resolved (for chat routes).
type turn struct {
	primary  *pool
	prior    []wire.InputItem
	resolved *wire.ResponsesRequest
}

// turn resolves a request's model, stored conversation and item references; the Call it
// returns on failure is one that reached no route.
func (r *Responder) turn(ctx context.Context, req *wire.ResponsesRequest) (turn, *Call, error) {
	primary, call, err := r.g.resolve(req.Model, "chat")
	if err != nil {
		return turn{}, call, err
	}
	prior, err := r.prior(ctx, req, primary)
	if err != nil {
		return turn{}, call, call.fail(Classify(ctx, err))
	}
	resolved, err := r.references(ctx, req)
	if primary.speaksResponses() && errors.Is(err, convo.ErrNotFound) {
		// Items the gateway does not hold are the Responses upstream's own (OpenAI's ids).
		resolved, err = req, nil
	}
	if err != nil {
		return turn{}, call, call.fail(Classify(ctx, err))
	}
	return turn{primary: primary, prior: prior, resolved: resolved}, call, nil
}

// passOnce is one attempt on a route that speaks Responses.
func passOnce(ctx context.Context, rt *route, up provider.ResponsesUpstream, req *wire.ResponsesRequest) (rawAnswer, error) {
	in := *req
	in.Model = rt.model.Upstream()
	b, err := up.ResponsesRaw(ctx, &in)
	if err != nil {
		return rawAnswer{}, err
	}
	fields, err := wire.ObjectFields(b, "model", "usage", "output")
	if err != nil {
		return rawAnswer{}, &provider.InvalidError{What: "response"}
	}
	var usage *wire.Usage
	if u := fields[1]; u.Found() && b[u.Start] == '{' {
		usage, _ = provider.ParseResponseUsage(b[u.Start:u.End])
	}
	return rawAnswer{body: b, fields: fields, usage: usage}, nil
}

// passed prices an upstream's response object and patches in the public model and the cost.
// Without usage, the gateway estimates it from the input and the output's size.
func (r *Responder) passed(ans rawAnswer, quoted []byte, call *Call, req *wire.ResponsesRequest) ([]byte, error) {
	body := ans.body
	if ans.usage == nil {
		u := estimated(ResponsesInputTokens(req), max(ans.fields[2].End-ans.fields[2].Start, 0))
		enc, err := json.Marshal(translate.Usage(u))
		if err != nil {
			return nil, fmt.Errorf("encode estimated usage: %w", err)
		}
		if body, err = wire.SetFields(body, wire.Field{Key: "usage", Value: enc}); err != nil {
			return nil, fmt.Errorf("set estimated usage: %w", err)
		}
		if ans.fields, err = wire.ObjectFields(body, "model", "usage", "output"); err != nil {
			return nil, fmt.Errorf("re-scan response: %w", err)
		}
		ans.usage = u
	}
	call.price(r.g.prices, ans.usage)
	return patch(body, ans.fields[0], ans.fields[1], quoted, call.CostUSD, call.Priced), nil
}

// translated turns a chat route's answer into the response object, priced.
func (r *Responder) translated(ans rawAnswer, chat *wire.ChatRequest, call *Call, req *wire.ResponsesRequest) ([]byte, error) {
	body := ans.body
	if ans.usage == nil {
		var err error
		if ans.usage, body, err = estimateRaw(body, ans.fields, chat); err != nil {
			return nil, err
		}
	}
	call.price(r.g.prices, ans.usage)
	var answer wire.ChatResponse
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, &provider.InvalidError{What: "chat completion"}
	}
	answer.Usage = ans.usage
	if call.Priced {
		usd := call.CostUSD
		answer.Usage.CostUSD = &usd
	}
	resp := translate.NewResponse(req, newResponseID(), call.Model, r.now().Unix())
	translate.Complete(resp, &answer)
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return b, nil
}

// ResponsesInputTokens estimates a Responses request's input tokens (what a key's limits reserve).
func ResponsesInputTokens(req *wire.ResponsesRequest) int {
	var texts []string
	if req.Instructions != nil {
		texts = append(texts, *req.Instructions)
	}
	for _, it := range req.Input.AsItems() {
		texts = append(texts, it.Content.AllText(), it.Arguments, it.Output.AllText())
	}
	return tokens.Prompt(texts)
}

// prior is the stored conversation a request continues. An id the gateway does not hold is a
// 404 — unless the primary route speaks Responses: its upstream keeps its own conversations.
func (r *Responder) prior(ctx context.Context, req *wire.ResponsesRequest, primary *pool) ([]wire.InputItem, error) {
	id := req.PreviousResponseID
	if id == "" {
		return nil, nil
	}
	rec, err := r.log.Load(ctx, id)
	if err != nil {
		if primary.speaksResponses() && errors.Is(err, convo.ErrNotFound) {
			return nil, nil
		}
		return nil, notFound(err, id, "previous_response_id")
	}
	return rec.Conversation, nil
}
