package cost

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"aiservice/service/internal/config"
	"aiservice/service/internal/wire"
)

func testTable() *Table {
	return NewTable(map[string]config.Price{
		"chat":      {InputPer1M: 2.5, CachedInputPer1M: 1.25, OutputPer1M: 10},
		"nocache":   {InputPer1M: 1, OutputPer1M: 2},
		"zero":      {},
		"image":     {PerImage: map[string]float64{"1024x1024/low": 0.01, "1024x1024/medium": 0.04, "1024x1536/high": 0.25}},
		"dalle":     {PerImage: map[string]float64{"1024x1024/standard": 0.04, "1024x1024/hd": 0.08}},
		"chatimage": {InputPer1M: 1, OutputPer1M: 1},
		"claude":    {InputPer1M: 3, CachedInputPer1M: 0.3, CacheWriteInputPer1M: 3.75, OutputPer1M: 15},
	})
}

func TestTableChat(t *testing.T) {
	tab := testTable()
	for _, tc := range []struct {
		name   string
		model  string
		usage  wire.Usage
		want   float64
		wantOK bool
	}{
		{"input and output", "chat", wire.Usage{PromptTokens: 1000, CompletionTokens: 500}, 0.0075, true},
		{"cached tokens at the cached rate", "chat",
			wire.Usage{PromptTokens: 1000, CompletionTokens: 500, PromptTokensDetails: &wire.PromptTokensDetails{CachedTokens: 400}},
			(600*2.5 + 400*1.25 + 500*10) / 1e6, true},
		{"cached tokens capped at the prompt", "chat",
			wire.Usage{PromptTokens: 100, PromptTokensDetails: &wire.PromptTokensDetails{CachedTokens: 1000}},
			100 * 1.25 / 1e6, true},
		{"no cached rate bills cached tokens at the input rate", "nocache",
			wire.Usage{PromptTokens: 1000, CompletionTokens: 1000, PromptTokensDetails: &wire.PromptTokensDetails{CachedTokens: 500}},
			0.003, true},
		{"cache reads and writes at their rates", "claude",
			wire.Usage{PromptTokens: 1000, CompletionTokens: 100, PromptTokensDetails: &wire.PromptTokensDetails{CachedTokens: 600, CacheWriteTokens: 300}},
			(100*3 + 600*0.3 + 300*3.75 + 100*15) / 1e6, true},
		{"cache writes capped at the uncached prompt", "claude",
			wire.Usage{PromptTokens: 100, PromptTokensDetails: &wire.PromptTokensDetails{CachedTokens: 60, CacheWriteTokens: 500}},
			(60*0.3 + 40*3.75) / 1e6, true},
		{"no cache-write rate bills writes at the input rate", "chat",
			wire.Usage{PromptTokens: 1000, PromptTokensDetails: &wire.PromptTokensDetails{CacheWriteTokens: 1000}}, 0.0025, true},
		{"zero usage costs zero but is priced", "chat", wire.Usage{}, 0, true},
		{"float noise is rounded", "chat", wire.Usage{PromptTokens: 3, CompletionTokens: 1}, 0.0000175, true},
		{"unknown model", "nope", wire.Usage{PromptTokens: 10}, 0, false},
		{"a model without token prices is unpriced, not free", "zero", wire.Usage{PromptTokens: 10}, 0, false},
		{"an image-only model has no chat price", "image", wire.Usage{PromptTokens: 10}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tab.Chat(tc.model, tc.usage)
			if ok != tc.wantOK || got != round(tc.want) {
				t.Errorf("Chat(%q, %+v) = %v, %v; want %v, %v", tc.model, tc.usage, got, ok, round(tc.want), tc.wantOK)
			}
		})
	}
}

func TestTableImage(t *testing.T) {
	tab := testTable()
	for _, tc := range []struct {
		name                 string
		model, size, quality string
		n                    int
		want                 float64
		wantOK               bool
	}{
		{"exact", "image", "1024x1536", "high", 1, 0.25, true},
		{"n images", "image", "1024x1024", "low", 3, 0.03, true},
		{"empty size is 1024x1024", "image", "", "low", 1, 0.01, true},
		{"auto size is 1024x1024", "image", "auto", "low", 1, 0.01, true},
		{"empty quality is medium", "image", "1024x1024", "", 2, 0.08, true},
		{"auto quality is medium", "image", "1024x1024", "auto", 1, 0.04, true},
		{"auto quality falls back to standard", "dalle", "1024x1024", "auto", 1, 0.04, true},
		{"hd", "dalle", "auto", "hd", 1, 0.08, true},
		{"unpriced size", "image", "256x256", "low", 1, 0, false},
		{"unpriced quality", "image", "1024x1024", "ultra", 1, 0, false},
		{"unknown model", "nope", "1024x1024", "low", 1, 0, false},
		{"a chat model has no image price", "chatimage", "1024x1024", "low", 1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tab.Image(tc.model, tc.size, tc.quality, tc.n)
			if ok != tc.wantOK || got != tc.want {
				t.Errorf("Image(%q, %q, %q, %d) = %v, %v; want %v, %v", tc.model, tc.size, tc.quality, tc.n, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestDefaultPrices checks the embedded price table against public list prices, so an edit to
// defaults.yaml that breaks a price is caught.
func TestDefaultPrices(t *testing.T) {
	cfg, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	tab := NewTable(cfg.Prices)
	if got, ok := tab.Chat("gpt-4o-mini", wire.Usage{PromptTokens: 1_000_000, CompletionTokens: 1_000_000}); !ok || got != 0.75 {
		t.Errorf("gpt-4o-mini 1M in + 1M out = %v, %v; want 0.75", got, ok)
	}
	if got, ok := tab.Image("gpt-image-1", "", "", 1); !ok || got != 0.042 {
		t.Errorf("gpt-image-1 default image = %v, %v; want 0.042", got, ok)
	}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTracker(t *testing.T) (*Tracker, *prometheus.Registry, *syncBuffer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &syncBuffer{}
	tr := NewTracker(reg, []string{"gpt-4o-mini", "gpt-4o"}, slog.New(slog.NewJSONHandler(logs, nil)))
	return tr, reg, logs
}

func TestTrackerModelLabel(t *testing.T) {
	tr, _, _ := newTracker(t)
	for in, want := range map[string]string{
		"gpt-4o-mini": "gpt-4o-mini", "gpt-4o": "gpt-4o",
		"": "other", "GPT-4O": "other", "random-" + strings.Repeat("x", 100): "other",
	} {
		if got := tr.Model(in); got != want {
			t.Errorf("Model(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTrackerCounters(t *testing.T) {
	tr, reg, _ := newTracker(t)
	tr.RecordAPICall("sim", "gpt-4o", OutcomeSuccess)
	tr.RecordAPICall("sim", "gpt-4o", OutcomeSuccess)
	tr.RecordAPICall("sim", "gpt-4o", OutcomeRateLimited)
	tr.RecordAPICall("sim", "made-up-1", OutcomeError)
	tr.RecordAPICall("sim", "made-up-2", OutcomeError)
	tr.RecordRequest("/v1/chat", Spend{Provider: "sim", Model: "gpt-4o-mini", Usage: &wire.Usage{PromptTokens: 100, CompletionTokens: 20}})
	// Zero input adds no sample.
	tr.RecordRequest("/v1/chat", Spend{Provider: "sim", Model: "gpt-4o-mini", Usage: &wire.Usage{CompletionTokens: 5}})
	tr.RecordRequest("/v1/chat", Spend{Provider: "sim", Model: "gpt-4o", CostUSD: 0.002, Priced: true})
	tr.RecordRequest("/v1/chat", Spend{Provider: "sim", Model: "gpt-4o", CostUSD: 0.003, Priced: true})
	tr.RecordRequest("/v1/chat", Spend{Provider: "sim", Model: "unknown-model", Usage: &wire.Usage{Estimated: true}})

	for _, tc := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"success calls", tr.apiCalls.WithLabelValues("sim", "gpt-4o", OutcomeSuccess), 2},
		{"rate limited calls", tr.apiCalls.WithLabelValues("sim", "gpt-4o", OutcomeRateLimited), 1},
		{"unknown models share one label", tr.apiCalls.WithLabelValues("sim", "other", OutcomeError), 2},
		{"input tokens", tr.tokens.WithLabelValues("sim", "gpt-4o-mini", "input"), 100},
		{"output tokens", tr.tokens.WithLabelValues("sim", "gpt-4o-mini", "output"), 25},
		{"estimated", tr.estimated.WithLabelValues("sim", "other"), 1},
	} {
		if got := testutil.ToFloat64(tc.c); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
	// The unknown model never became a label value of its own.
	if n := testutil.CollectAndCount(tr.apiCalls); n != 3 {
		t.Errorf("cost_provider_api_calls_total has %d series, want 3", n)
	}
	expected := `
# HELP cost_request_cost_usd Cost of each request in USD; _sum is total spend.
# TYPE cost_request_cost_usd histogram
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="1e-06"} 0
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="5e-06"} 0
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="1e-05"} 0
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="5e-05"} 0
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="0.0001"} 0
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="0.0005"} 0
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="0.001"} 0
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="0.005"} 2
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="0.01"} 2
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="0.05"} 2
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="0.1"} 2
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="0.5"} 2
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="1"} 2
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="5"} 2
cost_request_cost_usd_bucket{model="gpt-4o",provider="sim",route="/v1/chat",le="+Inf"} 2
cost_request_cost_usd_sum{model="gpt-4o",provider="sim",route="/v1/chat"} 0.005
cost_request_cost_usd_count{model="gpt-4o",provider="sim",route="/v1/chat"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "cost_request_cost_usd"); err != nil {
		t.Error(err)
	}
}

func TestTrackerUnpriced(t *testing.T) {
	tr, _, logs := newTracker(t)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { tr.RecordRequest("/v1/chat", Spend{Provider: "sim", Model: "gpt-4o"}) })
	}
	wg.Wait()
	tr.RecordRequest("/v1/chat", Spend{Provider: "sim", Model: "mystery"})
	tr.RecordRequest("/v1/chat", Spend{Provider: "sim", Model: "mystery"})

	if got := testutil.ToFloat64(tr.unpriced.WithLabelValues("sim", "gpt-4o")); got != 5 {
		t.Errorf("unpriced gpt-4o = %v, want 5", got)
	}
	if got := testutil.ToFloat64(tr.unpriced.WithLabelValues("sim", "other")); got != 2 {
		t.Errorf("unpriced other = %v, want 2", got)
	}
	// An unpriced request is not recorded as a $0 request.
	if n := testutil.CollectAndCount(tr.requestCost); n != 0 {
		t.Errorf("cost_request_cost_usd has %d series after unpriced requests only, want 0", n)
	}
	out := logs.String()
	if n := strings.Count(out, `"model":"gpt-4o"`); n != 1 {
		t.Errorf("gpt-4o logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, `"model":"mystery"`); n != 1 {
		t.Errorf("mystery logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "cost_unpriced_requests_total") {
		t.Errorf("the warning should name the metric to watch:\n%s", out)
	}
}
