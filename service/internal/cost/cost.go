// Package cost prices requests and records what they cost: the price table (USD per 1M tokens,
// per image by size and quality) and the tracker behind the cost_* metrics.
package cost

import (
	"log/slog"
	"math"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"aiservice/service/internal/config"
	"aiservice/service/internal/wire"
)

// Table is the price table.
type Table struct {
	prices map[string]config.Price
}

// NewTable builds a table from the configured prices (embedded defaults merged with overrides).
func NewTable(prices map[string]config.Price) *Table { return &Table{prices: prices} }

// Chat is the USD cost of a chat usage. Cached input tokens are billed at the cached rate when
// the model has one. ok is false when the model has no price.
func (t *Table) Chat(model string, u wire.Usage) (usd float64, ok bool) {
	p, ok := t.prices[model]
	if !ok || (p.InputPer1M == 0 && p.OutputPer1M == 0) {
		return 0, false
	}
	cached, written := 0, 0
	if d := u.PromptTokensDetails; d != nil {
		cached = min(d.CachedTokens, u.PromptTokens)
		written = min(d.CacheWriteTokens, u.PromptTokens-cached)
	}
	cachedRate, writeRate := p.CachedInputPer1M, p.CacheWriteInputPer1M
	if cachedRate == 0 {
		cachedRate = p.InputPer1M
	}
	if writeRate == 0 {
		writeRate = p.InputPer1M
	}
	usd = (float64(u.PromptTokens-cached-written)*p.InputPer1M + float64(cached)*cachedRate + float64(written)*writeRate +
		float64(u.CompletionTokens)*p.OutputPer1M) / 1e6
	return round(usd), true
}

// Image is the USD cost of n images. An empty or "auto" size is 1024x1024 and an empty or
// "auto" quality is the model's standard tier (medium, else standard).
func (t *Table) Image(model, size, quality string, n int) (usd float64, ok bool) {
	p, found := t.prices[model]
	if !found || len(p.PerImage) == 0 {
		return 0, false
	}
	if size == "" || size == "auto" {
		size = "1024x1024"
	}
	candidates := []string{quality}
	if quality == "" || quality == "auto" {
		candidates = []string{"medium", "standard"}
	}
	for _, q := range candidates {
		if each, ok := p.PerImage[size+"/"+q]; ok {
			return round(each * float64(n)), true
		}
	}
	return 0, false
}

// round drops float noise below a billionth of a cent (0.000020549999999999998 → 0.00002055).
func round(usd float64) float64 { return math.Round(usd*1e12) / 1e12 }

// Outcomes of an upstream API call (the `outcome` label).
const (
	OutcomeSuccess     = "success"
	OutcomeError       = "error"
	OutcomeTimeout     = "timeout"
	OutcomeRateLimited = "rate_limited"
	OutcomeCanceled    = "canceled"
)

// Tracker records cost metrics. Label values are normalised so cardinality stays bounded.
type Tracker struct {
	log    *slog.Logger
	models map[string]bool

	requestCost *prometheus.HistogramVec
	apiCalls    *prometheus.CounterVec
	tokens      *prometheus.CounterVec
	unpriced    *prometheus.CounterVec
	estimated   *prometheus.CounterVec

	unpricedSeen sync.Map // model label → struct{}: log an unpriced model once (unknown ones once in all)
}

// NewTracker registers the cost metrics. models are the configured model names; any other value
// is recorded as "other".
func NewTracker(reg prometheus.Registerer, models []string, log *slog.Logger) *Tracker {
	t := &Tracker{log: log, models: map[string]bool{}}
	for _, m := range models {
		t.models[m] = true
	}
	t.requestCost = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cost_request_cost_usd",
		Help:    "Cost of each request in USD; _sum is total spend.",
		Buckets: []float64{1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5},
	}, []string{"route", "provider", "model"})
	t.apiCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cost_provider_api_calls_total",
		Help: "Upstream API calls (attempts) by outcome.",
	}, []string{"provider", "model", "outcome"})
	t.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cost_provider_tokens_total",
		Help: "Tokens consumed, by type (input, output).",
	}, []string{"provider", "model", "type"})
	t.unpriced = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cost_unpriced_requests_total",
		Help: "Requests for a model with no price: their cost is unknown, not zero.",
	}, []string{"provider", "model"})
	t.estimated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cost_estimated_usage_total",
		Help: "Requests whose token usage was estimated (the upstream reported none, or a stream was cut).",
	}, []string{"provider", "model"})
	reg.MustRegister(t.requestCost, t.apiCalls, t.tokens, t.unpriced, t.estimated)
	return t
}

// Model normalises a model label.
func (t *Tracker) Model(m string) string {
	if t.models[m] {
		return m
	}
	return "other"
}

// RecordAPICall counts one upstream attempt (the seed's record_api_call).
func (t *Tracker) RecordAPICall(provider, model, outcome string) {
	t.apiCalls.WithLabelValues(provider, t.Model(model), outcome).Inc()
}

// recordTokens counts tokens of a normalised model label.
func (t *Tracker) recordTokens(provider, m string, input, output int) {
	if input > 0 {
		t.tokens.WithLabelValues(provider, m, "input").Add(float64(input))
	}
	if output > 0 {
		t.tokens.WithLabelValues(provider, m, "output").Add(float64(output))
	}
}

// Spend is what one client request consumed: the model and provider that served it, its token
// usage (nil when no upstream answered; images carry none) and its cost.
type Spend struct {
	Provider string      // configured provider name
	Model    string      // public model name
	Usage    *wire.Usage // exact, or estimated (Usage.Estimated)
	CostUSD  float64     // valid when Priced
	Priced   bool
}

// RecordRequest records one client request's spend (the seed's record_request and
// record_tokens): its tokens, whether they were estimated, and its cost, once per request — an
// agent run of several model calls counts once, with its total. An unpriced request is counted
// and logged once per model instead of being recorded as $0.
func (t *Tracker) RecordRequest(route string, s Spend) {
	m := t.Model(s.Model)
	if u := s.Usage; u != nil {
		t.recordTokens(s.Provider, m, u.PromptTokens, u.CompletionTokens)
		if u.Estimated {
			t.estimated.WithLabelValues(s.Provider, m).Inc()
		}
	}
	if !s.Priced {
		t.unpriced.WithLabelValues(s.Provider, m).Inc()
		if _, seen := t.unpricedSeen.LoadOrStore(m, struct{}{}); !seen {
			t.log.Warn("model has no price; its requests are counted in cost_unpriced_requests_total", "model", s.Model, "provider", s.Provider)
		}
		return
	}
	t.requestCost.WithLabelValues(route, s.Provider, m).Observe(s.CostUSD)
}
