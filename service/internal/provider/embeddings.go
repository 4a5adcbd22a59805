package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"aiservice/service/internal/wire"
)

// Embedder is an upstream that serves embeddings. It is apart from Provider so that a
// dialect without embeddings need not implement them: the gateway checks at start-up that
// every embedding model's provider is an Embedder.
type Embedder interface {
	// EmbeddingsRaw returns the upstream's embeddings list as bytes, unparsed.
	EmbeddingsRaw(ctx context.Context, req *wire.EmbeddingRequest) ([]byte, error)
	// EmbeddingsURL is where embeddings requests are sent, as configured.
	EmbeddingsURL() string
}

// EmbeddingsURL implements Embedder.
func (p *OpenAI) EmbeddingsURL() string { return strings.TrimRight(p.cfg.BaseURL, "/") + "/embeddings" }

// EmbeddingsRaw implements Embedder. A client's request is forwarded as written, with only the
// model changed; one the gateway built itself is encoded.
func (p *OpenAI) EmbeddingsRaw(ctx context.Context, req *wire.EmbeddingRequest) ([]byte, error) {
	payload, err := embeddingsPayload(req)
	if err != nil {
		return nil, fmt.Errorf("encode upstream embeddings request: %w", err)
	}
	return p.post(ctx, p.EmbeddingsURL(), payload)
}

func embeddingsPayload(req *wire.EmbeddingRequest) (json.RawMessage, error) {
	if req.Raw == nil {
		return json.Marshal(req)
	}
	model, err := json.Marshal(req.Model)
	if err != nil {
		return nil, err
	}
	return wire.SetFields(req.Raw, wire.Field{Key: "model", Value: model})
}
