package sim_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"

	"aiservice/service/internal/sim"
)

func cosine(a, b []float32) float64 {
	var dot float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
	}
	return dot
}

func TestEmbeddingIsADeterministicUnitVector(t *testing.T) {
	for _, dims := range []int{1, 8, 256, 1536, 3072} {
		for _, text := range []string{"", "hello", "The quick brown fox", "数学 🎉"} {
			v := sim.Embedding(text, dims)
			if len(v) != dims {
				t.Fatalf("len = %d, want %d", len(v), dims)
			}
			var norm float64
			for _, x := range v {
				if math.IsNaN(float64(x)) {
					t.Fatalf("NaN in the embedding of %q", text)
				}
				norm += float64(x) * float64(x)
			}
			if math.Abs(norm-1) > 1e-5 {
				t.Errorf("dims %d, %q: |v|² = %v, want 1", dims, text, norm)
			}
			if w := sim.Embedding(text, dims); cosine(v, w) < 1-1e-6 {
				t.Errorf("dims %d, %q: two calls differ", dims, text)
			}
		}
	}
}

func TestEmbeddingSimilarTextsAreCloser(t *testing.T) {
	cases := []struct{ anchor, near, far string }{
		{"the cat sat on the mat", "a cat sat on a mat", "quarterly revenue grew five percent"},
		{"How do I reset my password?", "password reset steps", "best pizza in Naples"},
		{"Kubernetes pod restarts", "why does my pod keep restarting in kubernetes", "a recipe for lemon cake"},
	}
	for _, tc := range cases {
		a, n, f := sim.Embedding(tc.anchor, 1536), sim.Embedding(tc.near, 1536), sim.Embedding(tc.far, 1536)
		if near, far := cosine(a, n), cosine(a, f); near <= far+0.1 {
			t.Errorf("%q: cos to %q = %.3f, to %q = %.3f; want the related text clearly closer", tc.anchor, tc.near, near, tc.far, far)
		}
	}
}

func TestEncodeBase64(t *testing.T) {
	v := []float32{1, -0.5, 0.25}
	b, err := base64.StdEncoding.DecodeString(sim.EncodeBase64(v))
	if err != nil || len(b) != 12 {
		t.Fatalf("decode: %v, %d bytes", err, len(b))
	}
	for i, want := range v {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])); got != want {
			t.Errorf("component %d = %v, want %v", i, got, want)
		}
	}
}

func TestEmbeddingsEndpoint(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{}, "")
	type response struct {
		Object string `json:"object"`
		Model  string `json:"model"`
		Data   []struct {
			Object    string          `json:"object"`
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	for _, tc := range []struct {
		name, body string
		n, dims    int
		base64     bool
	}{
		{"one string", `{"model":"text-embedding-3-small","input":"hello world"}`, 1, 1536, false},
		{"large model", `{"model":"text-embedding-3-large","input":"hello"}`, 1, 3072, false},
		{"dimensions", `{"model":"text-embedding-3-large","input":["a b","c d"],"dimensions":256}`, 2, 256, false},
		{"token arrays", `{"model":"text-embedding-3-small","input":[[1,2,3],[4,5]]}`, 2, 1536, false},
		{"one token array", `{"model":"text-embedding-3-small","input":[1,2,3]}`, 1, 1536, false},
		{"base64", `{"model":"text-embedding-3-small","input":["x","y","z"],"encoding_format":"base64"}`, 3, 1536, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, srv.URL+"/v1/embeddings", tc.body)
			got := decode[response](t, resp)
			if got.Object != "list" || len(got.Data) != tc.n || got.Usage.PromptTokens <= 0 || got.Usage.TotalTokens != got.Usage.PromptTokens {
				t.Fatalf("response %+v", got)
			}
			for i, d := range got.Data {
				var v []float32
				if tc.base64 {
					var s string
					if err := json.Unmarshal(d.Embedding, &s); err != nil {
						t.Fatal(err)
					}
					b, _ := base64.StdEncoding.DecodeString(s)
					for j := 0; j+4 <= len(b); j += 4 {
						v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(b[j:])))
					}
				} else if err := json.Unmarshal(d.Embedding, &v); err != nil {
					t.Fatal(err)
				}
				if d.Index != i || d.Object != "embedding" || len(v) != tc.dims || math.Abs(cosine(v, v)-1) > 1e-4 {
					t.Errorf("data[%d]: index %d, object %q, %d dims (want %d), |v|² %v", i, d.Index, d.Object, len(v), tc.dims, cosine(v, v))
				}
			}
		})
	}
	for _, tc := range []struct{ name, body, want string }{
		{"no model", `{"input":"x"}`, "model is required"},
		{"empty input", `{"model":"m","input":""}`, "must not be empty"},
		{"empty array", `{"model":"m","input":[]}`, "non-empty"},
		{"wrong type", `{"model":"m","input":{"a":1}}`, "non-empty string"},
		{"mixed array", `{"model":"m","input":["a",3]}`, "input[1]"},
		{"dimensions too large", `{"model":"text-embedding-3-small","input":"x","dimensions":4096}`, "between 1 and 1536"},
		{"encoding", `{"model":"m","input":"x","encoding_format":"int8"}`, "float or base64"},
		{"too many inputs", `{"model":"m","input":[` + strings.TrimSuffix(strings.Repeat(`"a",`, 2049), ",") + `]}`, "maximum is 2048"},
		{"input too long", `{"model":"m","input":"` + strings.Repeat("word ", 9000) + `"}`, "maximum is 8192"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, srv.URL+"/v1/embeddings", tc.body)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
				t.Errorf("status %d, body %s; want 400 naming %q", resp.StatusCode, b, tc.want)
			}
		})
	}
}
