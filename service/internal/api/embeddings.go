package api

import (
	"github.com/gin-gonic/gin"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/cache"
	"aiservice/service/internal/gateway"
	"aiservice/service/internal/limits"
	"aiservice/service/internal/wire"
)

// embeddings is OpenAI's POST /v1/embeddings: the upstream's answer passes through with only
// `model` and usage.cost_usd patched.
func (s *server) embeddings(c *gin.Context) {
	var req wire.EmbeddingRequest
	raw, err := readJSON(c.Writer, c.Request, &req)
	if err != nil {
		s.fail(c, err)
		return
	}
	req.Raw = raw
	if err := validateEmbeddings(&req); err != nil {
		s.fail(c, err)
		return
	}
	if !s.admit(c, func() limits.Estimate { return s.policy.Embeddings(req.Model, inputTokens(req.Input)) }) {
		return
	}
	s.answer(c, cache.KindEmbeddings, req.Model, req.Raw, func() ([]byte, *gateway.Call, error) {
		return s.gw.Embeddings(c.Request.Context(), &req)
	}, nil)
}

// inputTokens counts an embeddings input's tokens (what a key's limits reserve).
func inputTokens(in wire.EmbeddingInput) int {
	n := 0
	for i := range in.Len() {
		n += in.TokensAt(i)
	}
	return n
}

// validateEmbeddings checks an embeddings request against OpenAI's rules and limits, so a
// batch too large is refused before any upstream is asked.
func validateEmbeddings(req *wire.EmbeddingRequest) error {
	in := req.Input
	switch {
	case req.Model == "":
		return apperr.Invalid("model", "model is required.")
	case !in.Set:
		return apperr.Invalid("input", "input is required.")
	case !in.Shape:
		return apperr.Invalid("input", "input must be a string, an array of strings, an array of token ids or an array of token-id arrays.")
	case in.Len() == 0:
		return apperr.Invalid("input", "input must not be an empty array.")
	case in.Len() > wire.MaxEmbeddingInputs:
		return apperr.Invalid("input", "input has %d items; the maximum is %d.", in.Len(), wire.MaxEmbeddingInputs)
	case req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64":
		return apperr.Invalid("encoding_format", "encoding_format must be float or base64, not %q.", apperr.Excerpt(req.EncodingFormat))
	case req.Dimensions != nil && *req.Dimensions < 1:
		return apperr.Invalid("dimensions", "dimensions must be at least 1.")
	}
	total := 0
	for i := range in.Len() {
		if in.IsEmpty(i) {
			return apperr.Invalid("input", "input[%d] must not be empty.", i)
		}
		n := in.TokensAt(i)
		if n > wire.MaxEmbeddingInputTokens {
			return apperr.Invalid("input", "input[%d] has %d tokens; the maximum is %d.", i, n, wire.MaxEmbeddingInputTokens)
		}
		if total += n; total > wire.MaxEmbeddingTotalTokens {
			return apperr.Invalid("input", "The inputs have more than %d tokens in all.", wire.MaxEmbeddingTotalTokens)
		}
	}
	return nil
}
