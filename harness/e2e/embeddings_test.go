package e2e

import (
	"context"
	"errors"
	"math"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"aiservice/harness/client"
	"aiservice/harness/launch"
	"aiservice/harness/otlp"
)

// TestOfficialSDKEmbeddings calls POST /v1/embeddings of the real binary with the official Go
// SDK, changing only its base URL: both encodings decode to the same unit vectors.
func TestOfficialSDKEmbeddings(t *testing.T) {
	svc := launch.MustStartService(t, launch.Options{Args: []string{"--api-keys", "sk-test-e2e"}})
	client := openai.NewClient(option.WithBaseURL(svc.URL+"/v1/"), option.WithAPIKey("sk-test-e2e"), option.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	texts := []string{"the quick brown fox", "jumps over the lazy dog"}
	got := map[openai.EmbeddingNewParamsEncodingFormat][][]float64{}
	for _, tc := range []struct {
		name   string
		params openai.EmbeddingNewParams
		n      int
		dims   int
	}{
		{"float", openai.EmbeddingNewParams{Model: openai.EmbeddingModelTextEmbedding3Small,
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
			EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat}, 2, 1536},
		{"base64", openai.EmbeddingNewParams{Model: openai.EmbeddingModelTextEmbedding3Small,
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
			EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64}, 2, 1536},
		{"large with dimensions", openai.EmbeddingNewParams{Model: openai.EmbeddingModelTextEmbedding3Large,
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}, Dimensions: openai.Int(256), User: openai.String("u1")}, 1, 256},
		{"token arrays", openai.EmbeddingNewParams{Model: openai.EmbeddingModelTextEmbedding3Large,
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokenArrays: [][]int64{{1, 2, 3}, {4, 5}}}}, 2, 3072},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.Embeddings.New(ctx, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Model != tc.params.Model || len(resp.Data) != tc.n || resp.Usage.PromptTokens == 0 ||
				!strings.Contains(resp.Usage.RawJSON(), `"cost_usd":`) {
				t.Fatalf("response model %q, %d vectors, usage %s", resp.Model, len(resp.Data), resp.Usage.RawJSON())
			}
			var vecs [][]float64
			for i, d := range resp.Data {
				var norm float64
				for _, x := range d.Embedding {
					norm += x * x
				}
				if int(d.Index) != i || len(d.Embedding) != tc.dims || math.Abs(math.Sqrt(norm)-1) > 1e-3 {
					t.Errorf("data[%d]: index %d, %d dimensions (want %d), norm %v", i, d.Index, len(d.Embedding), tc.dims, math.Sqrt(norm))
				}
				vecs = append(vecs, d.Embedding)
			}
			got[tc.params.EncodingFormat] = vecs
		})
	}
	t.Run("both encodings agree", func(t *testing.T) {
		f, b := got[openai.EmbeddingNewParamsEncodingFormatFloat], got[openai.EmbeddingNewParamsEncodingFormatBase64]
		if len(f) != 2 || len(b) != 2 {
			t.Fatal("an encoding's request failed")
		}
		for i := range f {
			for j := range f[i] {
				if math.Abs(f[i][j]-b[i][j]) > 1e-6 {
					t.Fatalf("vector %d differs at %d: float %v, base64 %v", i, j, f[i][j], b[i][j])
				}
			}
		}
	})
	t.Run("bad input is a 400 in OpenAI's shape", func(t *testing.T) {
		_, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: openai.EmbeddingModelTextEmbedding3Small,
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("")}})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type != "invalid_request_error" || apiErr.Param != "input" {
			t.Fatalf("error %v, want a 400 invalid_request_error on input", err)
		}
	})
}

// TestEmbeddingsSpans: an embeddings request through the binary exports its SERVER span and,
// under it, one CLIENT span per attempt named after the GenAI conventions, with the usage.
func TestEmbeddingsSpans(t *testing.T) {
	recv := &otlp.Receiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	sim := launch.MustStartSim(t, launch.Options{})
	svc, err := launch.StartService(context.Background(), launch.Options{
		Config: launch.UpstreamConfig(sim.URL, ""),
		Args:   []string{"--otlp-endpoint", collector.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := client.New(svc.URL).Embeddings(ctx, client.EmbeddingRequest{Model: "text-embedding-3-small", Input: "hello there"}); err != nil {
		t.Fatal(err)
	}
	if code := svc.Stop(10 * time.Second); code != 0 { // the exit flushes the batch exporter
		t.Fatalf("exit code %d", code)
	}
	var server, attempt *tracepb.Span
	for _, s := range recv.Spans() {
		switch s.Name {
		case "POST /v1/embeddings":
			server = s
		case "embeddings text-embedding-3-small":
			attempt = s
		}
	}
	if server == nil || attempt == nil {
		t.Fatalf("want a SERVER and a CLIENT span; got %v", names(recv.Spans()))
	}
	if attempt.Kind != tracepb.Span_SPAN_KIND_CLIENT || string(attempt.ParentSpanId) != string(server.SpanId) {
		t.Errorf("attempt kind %v, parent %x; want CLIENT under the SERVER span %x", attempt.Kind, attempt.ParentSpanId, server.SpanId)
	}
	for k, want := range map[string]string{"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3-small",
		"gen_ai.response.model": "text-embedding-3-small", "gen_ai.provider.name": "openai"} {
		if got, _ := attr(attempt, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if n, _ := attr(attempt, "gen_ai.usage.input_tokens"); n == "" || n == "0" {
		t.Errorf("gen_ai.usage.input_tokens = %q, want the upstream's count", n)
	} else if _, err := strconv.Atoi(n); err != nil {
		t.Errorf("gen_ai.usage.input_tokens = %q is not an integer", n)
	}
	if u, _ := attr(attempt, "url.full"); !strings.HasSuffix(u, "/v1/embeddings") {
		t.Errorf("url.full = %q, want the upstream's embeddings URL", u)
	}
}
