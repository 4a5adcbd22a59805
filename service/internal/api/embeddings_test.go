package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// embeddingList is the part of an embeddings answer the tests read.
type embeddingList struct {
	Object string `json:"object"`
	Model  string `json:"model"`
	Data   []struct {
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Usage struct {
		PromptTokens int      `json:"prompt_tokens"`
		TotalTokens  int      `json:"total_tokens"`
		CostUSD      *float64 `json:"cost_usd"`
	} `json:"usage"`
}

// vector decodes one embedding in either encoding.
func vector(t *testing.T, raw json.RawMessage) []float64 {
	t.Helper()
	var v []float64
	if json.Unmarshal(raw, &v) == nil {
		return v
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("embedding is neither floats nor base64: %s", raw)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%4 != 0 {
		t.Fatalf("bad base64 embedding %q: %v", s, err)
	}
	for i := 0; i < len(b); i += 4 {
		bits := uint32(b[i]) | uint32(b[i+1])<<8 | uint32(b[i+2])<<16 | uint32(b[i+3])<<24
		v = append(v, float64(math.Float32frombits(bits)))
	}
	return v
}

func TestEmbeddings(t *testing.T) {
	f := newFixture(t, "")
	tests := []struct {
		name, body string
		n, dims    int
	}{
		{"one string", `{"model":"text-embedding-3-small","input":"hello world"}`, 1, 1536},
		{"strings as base64", `{"model":"text-embedding-3-small","input":["a","b c"],"encoding_format":"base64"}`, 2, 1536},
		{"token arrays with dimensions", `{"model":"text-embedding-3-large","input":[[1,2,3],[4]],"dimensions":256}`, 2, 256},
		{"one token array", `{"model":"text-embedding-3-large","input":[1,2,3],"user":"u1"}`, 1, 3072},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.post("/v1/embeddings", tt.body)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var l embeddingList
			if err := json.Unmarshal(r.body, &l); err != nil {
				t.Fatal(err)
			}
			var req struct{ Model string }
			_ = json.Unmarshal([]byte(tt.body), &req)
			if l.Object != "list" || l.Model != req.Model || len(l.Data) != tt.n {
				t.Fatalf("answer %s", r.body)
			}
			for _, d := range l.Data {
				if v := vector(t, d.Embedding); len(v) != tt.dims {
					t.Errorf("data[%d] has %d dimensions, want %d", d.Index, len(v), tt.dims)
				}
			}
			if l.Usage.PromptTokens <= 0 || l.Usage.CostUSD == nil || *l.Usage.CostUSD <= 0 {
				t.Errorf("usage %+v", l.Usage)
			}
			if r.header.Get("X-Cost-USD") == "" {
				t.Error("no X-Cost-USD header")
			}
		})
	}
	if c := f.metric(`cost_request_cost_usd_count{model="text-embedding-3-small",provider="sim",route="/v1/embeddings"}`); c != 2 {
		t.Errorf("cost recorded for %v embeddings requests of the small model, want 2", c)
	}
	if g := f.metric(`slo_events_total{result="good",route="/v1/embeddings",route_group="embeddings",slo="availability"}`); g != 4 {
		t.Errorf("%v good availability events in route group embeddings, want 4", g)
	}
}

func TestEmbeddingsBadInput(t *testing.T) {
	f := newFixture(t, "")
	many := `"x"` + strings.Repeat(`,"x"`, 2048)
	long := strings.Repeat("word ", 8000) // about 10000 tokens
	tests := []struct {
		name, body, param string
		status            int
	}{
		{"no model", `{"input":"hi"}`, "model", 400},
		{"no input", `{"model":"text-embedding-3-small"}`, "input", 400},
		{"null input", `{"model":"text-embedding-3-small","input":null}`, "input", 400},
		{"input an object", `{"model":"text-embedding-3-small","input":{"a":1}}`, "input", 400},
		{"mixed array", `{"model":"text-embedding-3-small","input":["a",[1]]}`, "input", 400},
		{"empty array", `{"model":"text-embedding-3-small","input":[]}`, "input", 400},
		{"empty string", `{"model":"text-embedding-3-small","input":""}`, "input", 400},
		{"empty token array", `{"model":"text-embedding-3-small","input":[[1],[]]}`, "input", 400},
		{"batch too large", `{"model":"text-embedding-3-small","input":[` + many + `]}`, "input", 400},
		{"input too long", `{"model":"text-embedding-3-small","input":"` + long + `"}`, "input", 400},
		{"bad encoding", `{"model":"text-embedding-3-small","input":"a","encoding_format":"hex"}`, "encoding_format", 400},
		{"zero dimensions", `{"model":"text-embedding-3-small","input":"a","dimensions":0}`, "dimensions", 400},
		{"dimensions a string", `{"model":"text-embedding-3-small","input":"a","dimensions":"8"}`, "dimensions", 400},
		{"model repeated", `{"model":"text-embedding-3-small","input":"a","model":"text-embedding-3-large"}`, "model", 400},
		{"model in another case", `{"Model":"text-embedding-3-large","model":"text-embedding-3-small","input":"a"}`, "Model", 400},
		{"a chat model", `{"model":"gpt-4o-mini","input":"a"}`, "model", 400},
		{"unknown model", `{"model":"nope","input":"a"}`, "model", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.post("/v1/embeddings", tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			r.errType(t)
			var e struct{ Error struct{ Param *string } }
			_ = json.Unmarshal(r.body, &e)
			if e.Error.Param == nil || *e.Error.Param != tt.param {
				t.Errorf("param %v, want %q: %s", e.Error.Param, tt.param, r.body)
			}
		})
	}
}

// TestEmbeddingsUpstream checks what reaches an OpenAI-compatible upstream (the client's body,
// unknown fields included, with only the model changed) and how its answers come back.
func TestEmbeddingsUpstream(t *testing.T) {
	var got []byte
	answer := ""
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/embeddings" {
			http.NotFound(w, r)
			return
		}
		got, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	defer up.Close()
	f := newFixture(t, fmt.Sprintf(`
providers: [{name: up, type: openai, base_url: %s/v1}]
models: [{name: m, provider: up}, {name: e, provider: up, upstream_model: vendor-e, kind: embedding}]
default_model: m
agents: []
prices: {e: {input_per_1m: 1}}`, up.URL))
	const sent = `{"model":"e","input":["hi"],"x_vendor":{"k":1}}`
	tests := []struct {
		name, answer string
		status       int
		want         string // the answer the client gets, exactly (on a 200)
	}{
		{"passed through", `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.6,0.8]}],"model":"vendor-e","usage":{"prompt_tokens":5,"total_tokens":5}}`, 200,
			`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.6,0.8]}],"model":"e","usage":{"cost_usd":0.000005,"prompt_tokens":5,"total_tokens":5}}`},
		{"usage estimated when absent", `{"object":"list","data":[],"model":"vendor-e"}`, 200,
			`{"object":"list","data":[],"model":"e","usage":{"cost_usd":0.000001,"prompt_tokens":1,"completion_tokens":0,"total_tokens":1,"estimated":true}}`},
		{"not JSON", `{"object":"list","data":[`, 502, ""},
		{"no data", `{"object":"list","model":"vendor-e"}`, 502, ""},
		{"data not an array", `{"object":"list","data":{},"model":"vendor-e"}`, 502, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer = tt.answer
			r := f.post("/v1/embeddings", sent)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if want := `{"model":"vendor-e","input":["hi"],"x_vendor":{"k":1}}`; string(got) != want {
				t.Errorf("upstream got\n %s\nwant\n %s", got, want)
			}
			if tt.status != 200 {
				r.errType(t)
				return
			}
			if string(r.body) != tt.want {
				t.Errorf("client got\n %s\nwant\n %s", r.body, tt.want)
			}
		})
	}
}
