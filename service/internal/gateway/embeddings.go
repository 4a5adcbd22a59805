package gateway

import (
	"context"
	"encoding/json"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/provider"
	"aiservice/service/internal/wire"
)

// opEmbeddings is the gen_ai.operation.name of an embeddings call.
const opEmbeddings = "embeddings"

// Embeddings runs an embeddings request and returns the response body as bytes: the upstream's
// list passed through, with `model` set to the public name and usage.cost_usd added. Only
// `model`, `usage` and that `data` is an array are read; the vectors are never decoded.
func (g *Gateway) Embeddings(ctx context.Context, req *wire.EmbeddingRequest) ([]byte, *Call, error) {
	primary, call, err := g.resolve(req.Model, "embedding")
	if err != nil {
		return nil, call, err
	}
	ans, a, err := send(ctx, g, call, primary, opEmbeddings, false, func(ctx context.Context, r *route, span trace.Span) (rawAnswer, error) {
		up := *req
		up.Model = r.model.Upstream()
		b, err := r.provider.(provider.Embedder).EmbeddingsRaw(ctx, &up)
		if err != nil {
			return rawAnswer{}, err
		}
		fields, err := wire.ObjectFields(b, "model", "usage", "data")
		if err != nil || !fields[2].Found() || b[fields[2].Start] != '[' {
			return rawAnswer{}, &provider.InvalidError{What: "embeddings response"}
		}
		usage := readUsage(b, fields[1])
		if span.IsRecording() {
			model, _ := wire.UnquoteString(b[max(fields[0].Start, 0):max(fields[0].End, 0)])
			attrs := []attribute.KeyValue{attribute.String("gen_ai.response.model", model)}
			if usage != nil {
				attrs = append(attrs, attribute.Int("gen_ai.usage.input_tokens", usage.PromptTokens))
			}
			span.SetAttributes(attrs...)
		}
		return rawAnswer{body: b, fields: fields, usage: usage}, nil
	})
	if err != nil {
		return nil, call, err
	}
	if ans.usage == nil {
		if ans.usage, ans.body, err = estimateEmbeddings(ans.body, ans.fields, req.Input); err != nil {
			return nil, call, call.fail(Classify(ctx, err))
		}
	}
	call.price(g.prices, ans.usage)
	return patch(ans.body, ans.fields[0], ans.fields[1], a.r.quotedName, call.CostUSD, call.Priced), call, nil
}

// estimateEmbeddings handles an answer without usage: the usage estimated from the inputs is
// set in the body (f is updated to the new body), so the client sees what it is billed for.
func estimateEmbeddings(body []byte, f []wire.Span, in wire.EmbeddingInput) (*wire.Usage, []byte, error) {
	n := 0
	for i := range in.Len() {
		n += in.TokensAt(i)
	}
	u := &wire.Usage{PromptTokens: n, TotalTokens: n, Estimated: true}
	enc, err := json.Marshal(u)
	if err != nil {
		return nil, nil, fmt.Errorf("encode estimated usage: %w", err)
	}
	b, err := wire.SetFields(body, wire.Field{Key: "usage", Value: enc})
	if err != nil {
		return nil, nil, fmt.Errorf("set estimated usage: %w", err)
	}
	nf, err := wire.ObjectFields(b, "model", "usage", "data")
	if err != nil {
		return nil, nil, fmt.Errorf("re-scan embeddings response: %w", err)
	}
	copy(f, nf)
	return u, b, nil
}
