package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"aiservice/service/internal/tokens"
	"aiservice/service/internal/wire"
)

// embeddingDims are the native sizes of OpenAI's embedding models; others get the small one's.
var embeddingDims = map[string]int{"text-embedding-3-large": 3072, "text-embedding-3-small": 1536, "text-embedding-ada-002": 1536}

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     *int            `json:"dimensions,omitempty"`
	EncodingFormat string          `json:"encoding_format,omitempty"`
	User           string          `json:"user,omitempty"`
}

type embeddingData struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string
}

type embeddingResponse struct {
	Object string          `json:"object"`
	Data   []embeddingData `json:"data"`
	Model  string          `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var req embeddingRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		badRequest(w, "invalid JSON body: "+err.Error())
		return
	}
	texts, dims, err := req.validate()
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	c, _, ok := s.begin(w, r, req.Model)
	defer c.end()
	if !ok {
		return
	}
	resp := embeddingResponse{Object: "list", Model: req.Model, Data: make([]embeddingData, len(texts))}
	for i, text := range texts {
		v := Embedding(text, dims)
		d := embeddingData{Object: "embedding", Index: i, Embedding: v}
		if req.EncodingFormat == "base64" {
			d.Embedding = EncodeBase64(v)
		}
		resp.Data[i] = d
		resp.Usage.PromptTokens += tokens.Count(text)
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens
	writeJSON(w, http.StatusOK, resp)
	c.completed = true
}

// validate returns the texts to embed (token arrays are embedded as their ids' text) and the
// vector size, or what is wrong, in OpenAI's terms.
func (req *embeddingRequest) validate() ([]string, int, error) {
	if req.Model == "" {
		return nil, 0, badRequestf("model is required")
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, 0, badRequestf("encoding_format must be float or base64, not %q", req.EncodingFormat)
	}
	dims, ok := embeddingDims[req.Model]
	if !ok {
		dims = 1536
	}
	if req.Dimensions != nil {
		if *req.Dimensions < 1 || *req.Dimensions > dims {
			return nil, 0, badRequestf("dimensions must be between 1 and %d for %s", dims, req.Model)
		}
		dims = *req.Dimensions
	}
	texts, err := inputs(req.Input)
	if err != nil {
		return nil, 0, err
	}
	total := 0
	for i, t := range texts {
		n := tokens.Count(t)
		if n > wire.MaxEmbeddingInputTokens {
			return nil, 0, badRequestf("input[%d] has %d tokens; the maximum is %d", i, n, wire.MaxEmbeddingInputTokens)
		}
		if total += n; total > wire.MaxEmbeddingTotalTokens {
			return nil, 0, badRequestf("the inputs have more than %d tokens in all", wire.MaxEmbeddingTotalTokens)
		}
	}
	return texts, dims, nil
}

// inputs reads `input`: a string, an array of strings, an array of token ids, or an array of
// token-id arrays.
func inputs(raw json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, badRequestf("input must not be empty")
		}
		return []string{one}, nil
	}
	var many []json.RawMessage
	if err := json.Unmarshal(raw, &many); err != nil || len(many) == 0 {
		return nil, badRequestf("input must be a non-empty string, array of strings, or array of token arrays")
	}
	if len(many) > wire.MaxEmbeddingInputs {
		return nil, badRequestf("input has %d items; the maximum is %d", len(many), wire.MaxEmbeddingInputs)
	}
	var ids []int
	if json.Unmarshal(raw, &ids) == nil {
		return []string{tokenText(ids)}, nil
	}
	out := make([]string, len(many))
	for i, m := range many {
		if json.Unmarshal(m, &out[i]) == nil {
			if out[i] == "" {
				return nil, badRequestf("input[%d] must not be empty", i)
			}
			continue
		}
		if json.Unmarshal(m, &ids) != nil || len(ids) == 0 {
			return nil, badRequestf("input[%d] must be a non-empty string or array of token ids", i)
		}
		out[i] = tokenText(ids)
	}
	return out, nil
}

// tokenText stands in for detokenisation: the simulator has no vocabulary, so equal token
// arrays get equal vectors.
func tokenText(ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = "t" + strconv.Itoa(id)
	}
	return strings.Join(parts, " ")
}
