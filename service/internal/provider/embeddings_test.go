package provider

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"aiservice/service/internal/wire"
)

func TestEmbeddingsRaw(t *testing.T) {
	var path, auth, got string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		path, auth, got = r.URL.Path, r.Header.Get("Authorization"), string(b)
		_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
	}))
	defer up.Close()
	p := NewOpenAI(OpenAIConfig{Name: "up", BaseURL: up.URL + "/v1/", APIKey: "k", ConnectTimeout: time.Second, ResponseHeaderTimeout: time.Second, MaxIdleConnsPerHost: 1})
	if u := p.EmbeddingsURL(); u != up.URL+"/v1/embeddings" {
		t.Errorf("EmbeddingsURL = %s", u)
	}
	for _, tc := range []struct {
		name string
		req  *wire.EmbeddingRequest
		want string // the upstream body
	}{
		{"a client's body, model changed", &wire.EmbeddingRequest{Model: "up-m", Raw: []byte(`{"model":"m","input":"hi","x":[1]}`)},
			`{"model":"up-m","input":"hi","x":[1]}`},
		{"a built request, encoded", &wire.EmbeddingRequest{Model: "up-m", Input: wire.EmbeddingInput{Texts: []string{"a"}, Set: true, Shape: true}, EncodingFormat: "base64"},
			`{"model":"up-m","input":["a"],"encoding_format":"base64"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := p.EmbeddingsRaw(context.Background(), tc.req)
			if err != nil || string(b) != `{"object":"list","data":[]}` {
				t.Fatalf("EmbeddingsRaw = %s, %v", b, err)
			}
			if path != "/v1/embeddings" || auth != "Bearer k" || got != tc.want {
				t.Errorf("upstream got %s %q %s, want /v1/embeddings, the key and %s", path, auth, got, tc.want)
			}
		})
	}
}
