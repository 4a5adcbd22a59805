package gateway

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/config"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/provider"
	"aiservice/service/internal/wire"
)

const okEmbeddings = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.6,0.8]}],"model":"up","usage":{"prompt_tokens":1000,"total_tokens":1000}}`

// EmbeddingsRaw makes the fake an Embedder: it answers from the same script as ChatRaw.
func (p *fakeProvider) EmbeddingsRaw(ctx context.Context, req *wire.EmbeddingRequest) ([]byte, error) {
	return p.body(ctx, req.Model)
}

func (p *fakeProvider) EmbeddingsURL() string { return p.URL("embeddings") }

// embedHarness adds embedding models e (on pa, upstream up-e, falling back to f) and f (on pb),
// priced at $1 and $10 per 1M input tokens; tune adjusts the resilience settings.
func embedHarness(t *testing.T, tune func(*config.Config)) *harness {
	h := newHarness(t, func(c *config.Config) {
		c.Models[0].Fallbacks = nil
		c.Models = append(c.Models,
			config.Model{Name: "e", Provider: "pa", UpstreamModel: "up-e", Kind: "embedding", Fallbacks: []string{"f"}},
			config.Model{Name: "f", Provider: "pb", Kind: "embedding"})
		if tune != nil {
			tune(c)
		}
	})
	h.g.prices = cost.NewTable(map[string]config.Price{"e": {InputPer1M: 1}, "f": {InputPer1M: 10}})
	h.on("pa", answer{body: okEmbeddings})
	h.on("pb", answer{body: okEmbeddings})
	return h
}

func embed(model string) *wire.EmbeddingRequest {
	return &wire.EmbeddingRequest{Model: model, Input: wire.EmbeddingInput{Texts: []string{"hello"}, Set: true, Shape: true}}
}

func TestEmbeddings(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pa, pb    []answer    // pb: the fallback's script, okEmbeddings when nil
		want      apperr.Kind // Internal: success
		model     string      // that served it
		attempts  int
		cost      float64
		bodyHas   []string
		estimated bool
	}{
		{"served and priced", []answer{{body: okEmbeddings}}, nil, apperr.Internal, "e", 1, 0.001,
			[]string{`"model":"e"`, `"usage":{"cost_usd":0.001,"prompt_tokens":1000`, `"embedding":[0.6,0.8]`}, false},
		{"retried", []answer{status(503), {body: okEmbeddings}}, nil, apperr.Internal, "e", 2, 0.001, []string{`"model":"e"`}, false},
		{"falls back after its retries", []answer{status(500)}, nil, apperr.Internal, "f", 4, 0.01, []string{`"model":"f"`, `"cost_usd":0.01`}, false},
		{"usage estimated when absent", []answer{{body: `{"object":"list","data":[],"model":"up"}`}}, nil, apperr.Internal, "e", 1, 0.000002,
			[]string{`"prompt_tokens":2`, `"estimated":true`, `"cost_usd":0.000002`}, true},
		{"the caller's 400 is not retried", []answer{status(400)}, nil, apperr.InvalidRequest, "e", 1, 0, nil, false},
		{"garbage is not retried but falls back", []answer{{body: `{"data":[`}}, nil, apperr.Internal, "f", 2, 0.01, []string{`"model":"f"`}, false},
		{"garbage everywhere is an upstream failure", []answer{{body: `{"data":[`}}, []answer{{body: `{"object":"list","data":"x"}`}},
			apperr.Upstream, "", 2, 0, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := embedHarness(t, nil)
			h.on("pa", tc.pa...)
			if tc.pb != nil {
				h.on("pb", tc.pb...)
			}
			body, call, err := h.g.Embeddings(context.Background(), embed("e"))
			if tc.want != apperr.Internal {
				if e := apperr.From(err); e == nil || e.Kind != tc.want || call.Failure.Err != e || call.Attempts != tc.attempts {
					t.Fatalf("error %v, call %+v; want kind %v after %d attempts", err, call, tc.want, tc.attempts)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if call.Model != tc.model || !call.Served || call.Attempts != tc.attempts || call.Usage == nil ||
				call.Usage.Estimated != tc.estimated || !call.Priced || math.Abs(call.CostUSD-tc.cost) > 1e-12 {
				t.Fatalf("call %+v (usage %+v)", call, call.Usage)
			}
			for _, s := range tc.bodyHas {
				if !strings.Contains(string(body), s) {
					t.Errorf("body %s lacks %s", body, s)
				}
			}
			if got := h.ups["pa"].calls(); got[0] != "up-e" {
				t.Errorf("upstream model %q, want up-e", got[0])
			}
		})
	}
}

func TestEmbeddingsModelKinds(t *testing.T) {
	h := embedHarness(t, nil)
	if _, _, err := h.g.Embeddings(context.Background(), embed("a")); apperr.From(err).Code != "model_not_supported" {
		t.Errorf("embeddings on a chat model: %v", err)
	}
	if _, _, err := h.g.ChatRaw(context.Background(), chat("e")); apperr.From(err).Code != "model_not_supported" {
		t.Errorf("chat on an embedding model: %v", err)
	}
	if len(h.ups["pa"].calls()) != 0 {
		t.Error("a refused request reached the upstream")
	}
}

func TestEmbeddingsSpan(t *testing.T) {
	h := embedHarness(t, nil)
	rec := h.traced()
	if _, _, err := h.g.Embeddings(context.Background(), embed("e")); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "embeddings e" {
		t.Fatalf("spans %v, want one named \"embeddings e\"", spans)
	}
	attrs := map[string]string{}
	for _, kv := range spans[0].Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	for k, v := range map[string]string{"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "e",
		"gen_ai.response.model": "up", "gen_ai.usage.input_tokens": "1000", "url.full": "https://pa.example.com/v1/embeddings"} {
		if attrs[k] != v {
			t.Errorf("%s = %q, want %q", k, attrs[k], v)
		}
	}
	if _, ok := attrs["gen_ai.usage.output_tokens"]; ok {
		t.Error("an embeddings span has output tokens")
	}
}

// chatOnly is a provider that does not serve embeddings.
type chatOnly struct{ provider.Provider }

func TestEmbeddingModelNeedsAnEmbedder(t *testing.T) {
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	_, err := New(Deps{Options: Options{Models: []config.Model{{Name: "e", Provider: "p", Kind: "embedding"}},
		Resilience: config.Resilience{MaxInFlight: 1, BreakerFailures: 1}},
		Providers: map[string]provider.Provider{"p": chatOnly{&fakeProvider{name: "p"}}}, Prices: cost.NewTable(nil),
		Cost: cost.NewTracker(reg, nil, log), Registry: reg, Tracer: noop.NewTracerProvider().Tracer(""), Log: log})
	if err == nil || !strings.Contains(err.Error(), "does not serve embeddings") {
		t.Errorf("New = %v, want a refusal of the embedding model", err)
	}
}

// TestEmbeddingsGuarded: embeddings share the guard of every route — an open breaker hands the
// call to the fallback without trying the upstream, and a full in-flight cap sheds it.
func TestEmbeddingsGuarded(t *testing.T) {
	t.Run("open breaker falls back", func(t *testing.T) {
		h := embedHarness(t, func(c *config.Config) { c.Resilience.MaxRetries, c.Resilience.BreakerFailures = 0, 1 })
		h.on("pa", status(500))
		_, _, _ = h.g.Embeddings(context.Background(), embed("e")) // opens e's breaker, f serves
		_, call, err := h.g.Embeddings(context.Background(), embed("e"))
		if err != nil || call.Model != "f" || call.Attempts != 1 || len(h.ups["pa"].calls()) != 1 {
			t.Fatalf("call %+v, %v, e's upstream saw %d calls; want f to serve without e's upstream", call, err, len(h.ups["pa"].calls()))
		}
	})
	t.Run("shed when the slots are taken", func(t *testing.T) {
		h := embedHarness(t, func(c *config.Config) { c.Resilience.MaxInFlight = 1 })
		until := make(chan struct{})
		h.on("pa", answer{hang: true, until: until})
		done := make(chan struct{})
		go func() { _, _, _ = h.g.ChatRaw(context.Background(), chat("a")); close(done) }() // holds the only unary slot
		for len(h.ups["pa"].calls()) == 0 {
			time.Sleep(time.Millisecond) // poll until the upstream has the call
		}
		_, call, err := h.g.Embeddings(context.Background(), embed("e"))
		close(until)
		<-done
		if e := apperr.From(err); e == nil || e.Code != "overloaded" || call.Attempts != 0 {
			t.Fatalf("got %v after %d attempts, want a shed", err, call.Attempts)
		}
	})
}
