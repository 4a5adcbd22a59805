package e2e

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"aiservice/harness/launch"
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
