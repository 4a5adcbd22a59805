package client

import (
	"context"
	"net/http"
)

// EmbeddingRequest is the body of POST /v1/embeddings. Input is a string, []string, []int or
// [][]int, as OpenAI's.
type EmbeddingRequest struct {
	Model          string `json:"model"`
	Input          any    `json:"input"`
	Dimensions     *int   `json:"dimensions,omitempty"`
	EncodingFormat string `json:"encoding_format,omitempty"`
	User           string `json:"user,omitempty"`
}

// EmbeddingResponse is the answer of POST /v1/embeddings with float vectors, the default
// encoding (a base64 answer carries strings: read it from the raw Response with Do).
type EmbeddingResponse struct {
	Object string `json:"object"`
	Model  string `json:"model"`
	Data   []struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	} `json:"data"`
	Usage *Usage `json:"usage"`
}

// Embeddings calls POST /v1/embeddings.
func (c *Client) Embeddings(ctx context.Context, req EmbeddingRequest) (*EmbeddingResponse, *Response, error) {
	var out EmbeddingResponse
	resp, err := c.call(ctx, http.MethodPost, "/v1/embeddings", req, &out)
	return &out, resp, err
}
