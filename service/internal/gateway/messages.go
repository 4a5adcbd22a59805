package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/provider"
	"aiservice/service/internal/tokens"
	"aiservice/service/internal/translate"
	"aiservice/service/internal/wire"
)

// opCountTokens is the gen_ai.operation.name of a count_tokens call.
const opCountTokens = "count_tokens"

// messenger is the route's provider as a Messages upstream: natively or by translation.
func messenger(r *route) (provider.Messenger, error) {
	m, ok := r.provider.(provider.Messenger)
	if !ok {
		return nil, &apperr.Error{Kind: apperr.InvalidRequest, Code: "model_not_supported", Param: "model",
			Message: fmt.Sprintf("The model %q cannot serve the Messages API.", apperr.Excerpt(r.model.Name))}
	}
	return m, nil
}

// upstreamOf is the request as sent to a route: its upstream model name.
func upstreamOf(req *wire.MessagesRequest, r *route) *wire.MessagesRequest {
	up := *req
	up.Model = r.model.Upstream()
	return &up
}

// Messages runs a non-streaming Messages request through the route chain and returns the
// message as bytes: an Anthropic upstream's answer passed through, an OpenAI-compatible one's
// translated; either way with `model` set to the public name and usage.cost_usd added.
func (g *Gateway) Messages(ctx context.Context, req *wire.MessagesRequest) ([]byte, *Call, error) {
	primary, call, err := g.resolve(req.Model, "chat")
	if err != nil {
		return nil, call, err
	}
	ans, a, err := send(ctx, g, call, primary, "chat", false, func(ctx context.Context, r *route, span trace.Span) (rawAnswer, error) {
		m, err := messenger(r)
		if err != nil {
			return rawAnswer{}, err
		}
		b, err := m.MessagesRaw(ctx, upstreamOf(req, r))
		if err != nil {
			return rawAnswer{}, err
		}
		fields, err := wire.ObjectFields(b, "model", "usage", "stop_reason")
		if err != nil {
			return rawAnswer{}, &provider.InvalidError{What: "message"}
		}
		usage := readAUsage(b, fields[1])
		if span.IsRecording() {
			model, _ := wire.UnquoteString(b[max(fields[0].Start, 0):max(fields[0].End, 0)])
			var finish []string
			if stop, ok := wire.UnquoteString(b[max(fields[2].Start, 0):max(fields[2].End, 0)]); ok {
				finish = []string{translate.FinishReason(stop)}
			}
			g.annotate(span, model, usage, finish)
		}
		return rawAnswer{body: b, fields: fields, usage: usage}, nil
	})
	if err != nil {
		return nil, call, err
	}
	if ans.usage == nil || ans.usage.CompletionTokens == 0 {
		if ans.usage, ans.body, err = estimateMessage(ans.body, ans.fields, req); err != nil {
			return nil, call, call.fail(Classify(ctx, err))
		}
	}
	call.price(g.prices, ans.usage)
	return patch(ans.body, ans.fields[0], ans.fields[1], a.r.quotedName, call.CostUSD, call.Priced), call, nil
}

// estimateMessage handles a message whose upstream counted no output (an OpenAI-compatible
// upstream that sent no usage, translated): the usage estimated from the request and the
// content is set in the body, marked, so the client sees what it is billed for (f is updated
// to the new body). A message with no output keeps its counts.
func estimateMessage(body []byte, f []wire.Span, req *wire.MessagesRequest) (*wire.Usage, []byte, error) {
	var m wire.MessagesResponse
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, nil, &provider.InvalidError{What: "message"}
	}
	runes := 0
	for _, b := range m.Content {
		runes += utf8.RuneCountInString(b.Text) + utf8.RuneCountInString(b.Name) + utf8.RuneCount(b.Input)
	}
	if runes == 0 {
		return translate.UsageFromAnthropic(m.Usage), body, nil
	}
	u := estimated(MessagesPromptTokens(req), runes)
	enc, err := json.Marshal(translate.UsageToAnthropic(u))
	if err != nil {
		return nil, nil, fmt.Errorf("encode estimated usage: %w", err)
	}
	b, err := wire.SetFields(body, wire.Field{Key: "usage", Value: enc})
	if err != nil {
		return nil, nil, fmt.Errorf("set estimated usage: %w", err)
	}
	nf, err := wire.ObjectFields(b, "model", "usage", "stop_reason")
	if err != nil {
		return nil, nil, fmt.Errorf("re-scan message: %w", err)
	}
	copy(f, nf)
	return u, b, nil
}

// readAUsage reads an Anthropic usage object as the gateway's usage; nil when absent.
func readAUsage(body []byte, u wire.Span) *wire.Usage {
	if !u.Found() || body[u.Start] != '{' {
		return nil
	}
	var au wire.AUsage
	if json.Unmarshal(body[u.Start:u.End], &au) != nil {
		return nil
	}
	return translate.UsageFromAnthropic(au)
}

// MessagesStream opens a Messages stream: Anthropic's events, from an Anthropic upstream as it
// sent them (model patched), from an OpenAI-compatible one translated. Retries and fallback
// happen until the upstream answered with headers, as for chat streams.
func (g *Gateway) MessagesStream(ctx context.Context, req *wire.MessagesRequest) (*Stream, *Call, error) {
	return g.openStream(ctx, req.Model, MessagesPromptTokens(req), anthropicEvents, func(ctx context.Context, r *route) (provider.RawStream, error) {
		m, err := messenger(r)
		if err != nil {
			return nil, err
		}
		return m.MessagesStream(ctx, upstreamOf(req, r))
	})
}

// CountTokens answers count_tokens: an Anthropic upstream's count, or the gateway's estimate
// for an OpenAI-compatible one.
func (g *Gateway) CountTokens(ctx context.Context, req *wire.MessagesRequest) ([]byte, *Call, error) {
	primary, call, err := g.resolve(req.Model, "chat")
	if err != nil {
		return nil, call, err
	}
	b, _, err := send(ctx, g, call, primary, opCountTokens, false, func(ctx context.Context, r *route, _ trace.Span) ([]byte, error) {
		m, err := messenger(r)
		if err != nil {
			return nil, err
		}
		return m.CountTokensRaw(ctx, upstreamOf(req, r))
	})
	return b, call, err
}

// MessagesPromptTokens estimates a Messages request's input tokens (what a key's limits reserve).
func MessagesPromptTokens(req *wire.MessagesRequest) int {
	var texts []string
	if req.System != nil {
		texts = append(texts, req.System.Text)
	}
	for _, m := range req.Messages {
		for _, b := range m.Content {
			texts = append(texts, b.Text)
			if b.Content != nil {
				texts = append(texts, b.Content.Text)
			}
		}
	}
	return tokens.Prompt(texts)
}

// relayEvent scans one Anthropic event — which also validates it — counts what it produced,
// and patches in the public model name (message_start) and, on message_delta, which carries
// the final usage, the cost.
func (s *Stream) relayEvent(raw []byte) (Event, error) {
	var f [4]wire.Span
	if err := wire.ObjectFieldsInto(f[:], raw, "type", "message", "delta", "usage"); err != nil || !f[0].Found() {
		return Event{}, s.fail(&provider.InvalidError{What: "stream event"})
	}
	typ, _ := wire.UnquoteString(raw[f[0].Start:f[0].End])
	out := raw
	switch typ {
	case "message_start":
		if m := f[1]; m.Found() && raw[m.Start] == '{' {
			msg := raw[m.Start:m.End]
			mf, err := wire.ObjectFields(msg, "model", "usage", "id")
			if err != nil {
				return Event{}, s.fail(&provider.InvalidError{What: "stream event"})
			}
			if u := mf[1]; u.Found() {
				_ = json.Unmarshal(msg[u.Start:u.End], &s.msgUsage)
			}
			if id := mf[2]; s.chunkID == "" && id.Found() {
				s.chunkID, _ = wire.UnquoteString(msg[id.Start:id.End])
			}
			if mm := mf[0]; mm.Found() {
				out = wire.Apply(raw, wire.Edit{At: m.Start + mm.Start, End: m.Start + mm.End, With: s.a.r.quotedName})
			}
		}
	case "content_block_delta":
		if d := f[2]; d.Found() {
			var delta wire.ADelta
			if json.Unmarshal(raw[d.Start:d.End], &delta) == nil {
				s.outRunes += utf8.RuneCountInString(delta.Text)
				if delta.PartialJSON != nil {
					s.outRunes += utf8.RuneCountInString(*delta.PartialJSON)
				}
			}
		}
	case "message_delta":
		if d := f[2]; d.Found() {
			var delta wire.ADelta
			if json.Unmarshal(raw[d.Start:d.End], &delta) == nil && delta.StopReason != nil {
				s.finish = append(s.finish, translate.FinishReason(*delta.StopReason))
			}
		}
		if u := f[3]; u.Found() && raw[u.Start] == '{' {
			var du wire.AUsage
			if json.Unmarshal(raw[u.Start:u.End], &du) == nil {
				translate.MergeDeltaUsage(&s.msgUsage, du)
			}
			usage := translate.UsageFromAnthropic(s.msgUsage)
			guessed := s.msgUsage.OutputTokens == 0 && s.outRunes > 0 // the upstream counted nothing
			if guessed {
				usage = estimated(s.prompt, s.outRunes)
			}
			s.usage = usage
			s.price(usage)
			if !guessed {
				out = patch(raw, wire.Span{Start: -1, End: -1}, u, nil, s.call.CostUSD, s.call.Priced)
				break
			}
			// The client gets the estimate it is billed for, marked, as on the chat routes.
			enc, err := json.Marshal(translate.UsageToAnthropic(usage))
			if err == nil {
				out, err = wire.SetFields(raw, wire.Field{Key: "usage", Value: enc})
			}
			if err != nil {
				return Event{}, s.fail(&provider.InvalidError{What: "stream event"})
			}
		}
	}
	return Event{Data: out, Name: typ}, nil
}
