package wire

import (
	"bytes"
	"encoding/json"

	"aiservice/service/internal/tokens"
)

// OpenAI's limits for one embeddings request: inputs per batch, tokens per input, tokens in all.
const (
	MaxEmbeddingInputs      = 2048
	MaxEmbeddingInputTokens = 8192
	MaxEmbeddingTotalTokens = 300_000
)

// EmbeddingRequest is the body of POST /v1/embeddings. Raw is the body as the client sent it:
// it is forwarded with only `model` changed, so fields the gateway does not know pass through.
type EmbeddingRequest struct {
	Model          string         `json:"model"`
	Input          EmbeddingInput `json:"input"`
	Dimensions     *int           `json:"dimensions,omitempty"`
	EncodingFormat string         `json:"encoding_format,omitempty"`
	User           string         `json:"user,omitempty"`
	Raw            []byte         `json:"-"`
}

// EmbeddingInput is `input` in any of its four shapes: a string, an array of strings, an array
// of token ids, or an array of token-id arrays. A single string or token array is one input.
// A value of no such shape decodes without error but with Shape false, so the validation can
// name `input` instead of the decoder failing on the whole body.
type EmbeddingInput struct {
	Texts  []string // the inputs given as text
	Tokens [][]int  // the inputs given as token ids
	Set    bool     // input was present and not null
	Shape  bool     // input had one of the four shapes
	// single is a lone string or token array rather than an array of them.
	single bool
}

// UnmarshalJSON reads the four shapes; mixed arrays are not one of them.
func (in *EmbeddingInput) UnmarshalJSON(b []byte) error {
	*in = EmbeddingInput{}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	in.Set = true
	// Each shape decodes into its own variable: a failed json.Unmarshal may leave a slice
	// partly filled.
	var one string
	var texts []string
	var ids []int
	var lists [][]int
	switch {
	case json.Unmarshal(b, &one) == nil:
		in.Texts, in.single = []string{one}, true
	case json.Unmarshal(b, &texts) == nil:
		in.Texts = texts
	case json.Unmarshal(b, &ids) == nil:
		in.Tokens, in.single = [][]int{ids}, true
	case json.Unmarshal(b, &lists) == nil:
		in.Tokens = lists
	default:
		return nil
	}
	in.Shape = true
	return nil
}

// MarshalJSON writes the input back in the shape it was read in.
func (in EmbeddingInput) MarshalJSON() ([]byte, error) {
	switch {
	case !in.Set:
		return []byte("null"), nil
	case in.single && len(in.Texts) == 1:
		return json.Marshal(in.Texts[0])
	case in.single && len(in.Tokens) == 1:
		return json.Marshal(in.Tokens[0])
	case in.Tokens != nil:
		return json.Marshal(in.Tokens)
	}
	return json.Marshal(in.Texts)
}

// Len is the number of inputs.
func (in EmbeddingInput) Len() int { return len(in.Texts) + len(in.Tokens) }

// TokensAt is the token count of input i: its ids, or the estimate of its text.
func (in EmbeddingInput) TokensAt(i int) int {
	if i < len(in.Texts) {
		return tokens.Count(in.Texts[i])
	}
	return len(in.Tokens[i-len(in.Texts)])
}

// IsEmpty reports whether input i is an empty string or an empty token array.
func (in EmbeddingInput) IsEmpty(i int) bool {
	if i < len(in.Texts) {
		return in.Texts[i] == ""
	}
	return len(in.Tokens[i-len(in.Texts)]) == 0
}
