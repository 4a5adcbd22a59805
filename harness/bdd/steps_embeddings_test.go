package bdd

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/cucumber/godog"
)

// embeddings reads the vectors of the last answer, in either encoding.
func (w *world) embeddings() ([][]float64, error) {
	var resp struct {
		Data []struct {
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
	}
	if err := w.decodeLast(&resp); err != nil {
		return nil, err
	}
	out := make([][]float64, len(resp.Data))
	for i, d := range resp.Data {
		if json.Unmarshal(d.Embedding, &out[i]) == nil {
			continue
		}
		var s string
		if err := json.Unmarshal(d.Embedding, &s); err != nil {
			return nil, fmt.Errorf("embedding %d is neither floats nor base64: %.80s", i+1, d.Embedding)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b)%4 != 0 {
			return nil, fmt.Errorf("embedding %d is not base64 float32s: %v", i+1, err)
		}
		for j := 0; j < len(b); j += 4 {
			out[i] = append(out[i], float64(math.Float32frombits(binary.LittleEndian.Uint32(b[j:]))))
		}
	}
	return out, nil
}

func (w *world) embed(body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return w.raw(http.MethodPost, "/v1/embeddings", "application/json", b, true)
}

func (w *world) registerEmbeddingSteps(sc *godog.ScenarioContext) {
	sc.Step(`^I embed "([^"]*)" with the model "([^"]*)"$`, func(text, model string) error {
		return w.embed(map[string]any{"model": model, "input": text})
	})
	sc.Step(`^I embed the texts (.+) with the model "([^"]*)" as (float|base64) in (\d+) dimensions$`, func(list, model, enc string, dims int) error {
		var texts []string
		for _, m := range quoted.FindAllStringSubmatch(list, -1) {
			texts = append(texts, m[1])
		}
		return w.embed(map[string]any{"model": model, "input": texts, "encoding_format": enc, "dimensions": dims})
	})
	sc.Step(`^I embed (\d+) texts with the model "([^"]*)"$`, func(n int, model string) error {
		texts := make([]string, n)
		for i := range texts {
			texts[i] = fmt.Sprintf("text %d", i)
		}
		return w.embed(map[string]any{"model": model, "input": texts})
	})
	sc.Step(`^I send the embeddings request (\{.*\})$`, func(body string) error {
		return w.raw(http.MethodPost, "/v1/embeddings", "application/json", []byte(body), true)
	})
	sc.Step(`^I receive (\d+) embeddings? of (\d+) dimensions$`, func(n, dims int) error {
		vs, err := w.embeddings()
		if err != nil {
			return err
		}
		if len(vs) != n {
			return fmt.Errorf("%d embeddings, want %d", len(vs), n)
		}
		for i, v := range vs {
			if len(v) != dims {
				return fmt.Errorf("embedding %d has %d dimensions, want %d", i+1, len(v), dims)
			}
		}
		return nil
	})
	sc.Step(`^every embedding has unit length$`, func() error {
		vs, err := w.embeddings()
		if err != nil {
			return err
		}
		for i, v := range vs {
			var sum float64
			for _, x := range v {
				sum += x * x
			}
			if n := math.Sqrt(sum); math.Abs(n-1) > 1e-3 {
				return fmt.Errorf("embedding %d has length %v", i+1, n)
			}
		}
		return nil
	})
	sc.Step(`^embeddings (\d+) and (\d+) (are equal|differ)$`, func(a, b int, how string) error {
		vs, err := w.embeddings()
		if err != nil {
			return err
		}
		if a > len(vs) || b > len(vs) {
			return fmt.Errorf("only %d embeddings", len(vs))
		}
		if equal := slices.Equal(vs[a-1], vs[b-1]); equal != (how == "are equal") {
			return fmt.Errorf("embeddings %d and %d: equal = %v, want %s", a, b, equal, strings.TrimPrefix(how, "are "))
		}
		return nil
	})
}
