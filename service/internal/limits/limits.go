// Package limits enforces a key's limits and budgets: before a request is forwarded it
// reserves its request, its estimated tokens (prompt + max output) and their price in the
// store, in one atomic step; after the answer the ticket settles the reservation to the real
// usage and cost (zero when nothing was served: a release). Every surface admits through
// Policy.Admit once per client request, whatever its retries and fallbacks.
package limits

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/keys"
	"aiservice/service/internal/store"
	"aiservice/service/internal/wire"
)

// Options configure a Policy.
type Options struct {
	Store           store.Limiter
	Prices          *cost.Table
	MaxOutputTokens int  // the output assumed when a request names no limit
	CutStreams      bool // a stream that crosses its budget is cut (else it finishes)
	Clock           func() time.Time
	Registry        prometheus.Registerer
	Keys            []string // the virtual keys' names: the metrics' bounded label set
	Log             *slog.Logger
	// SettleTimeout bounds a settlement, which runs after the client's answer.
	SettleTimeout time.Duration
}

// Policy admits requests of limited keys.
type Policy struct {
	o Options
	m *metrics
}

// New builds a policy and registers the limits_* metrics.
func New(o Options) *Policy {
	return &Policy{o: o, m: newMetrics(o.Registry, o.Keys)}
}

// Estimate is what a request may consume at most: its model, prompt tokens, output tokens
// and their price.
type Estimate struct {
	Model          string
	Prompt, Output int
	USD            float64
}

// Chat estimates a chat request: its prompt, and max_tokens (or the configured cap) per choice.
func (p *Policy) Chat(model string, prompt, maxOutput, n int) Estimate {
	if maxOutput <= 0 {
		maxOutput = p.o.MaxOutputTokens
	}
	out := maxOutput * max(n, 1)
	usd, _ := p.o.Prices.Chat(model, wire.Usage{PromptTokens: prompt, CompletionTokens: out})
	return Estimate{Model: model, Prompt: prompt, Output: out, USD: usd}
}

// Embeddings estimates an embeddings request: its input tokens.
func (p *Policy) Embeddings(model string, prompt int) Estimate {
	usd, _ := p.o.Prices.Chat(model, wire.Usage{PromptTokens: prompt})
	return Estimate{Model: model, Prompt: prompt, USD: usd}
}

// Images estimates an image request: its price per image.
func (p *Policy) Images(model, size, quality string, n int) Estimate {
	usd, _ := p.o.Prices.Image(model, size, quality, n)
	return Estimate{Model: model, USD: usd}
}

// Limit errors: what a limited client gets (429, or 503 while the store fails closed).
var (
	errModel = func(model string) error {
		return &apperr.Error{Kind: apperr.Forbidden, Code: "model_not_allowed", Param: "model",
			Message: fmt.Sprintf("This API key may not use the model %q.", apperr.Excerpt(model))}
	}
	errUnavailable = &apperr.Error{Kind: apperr.Unavailable, Code: "limits_unavailable", RetryAfter: time.Second,
		Message: "The rate-limit store cannot be reached and this gateway is configured to fail closed; retry shortly."}
)

func denial(d store.Denial, retry time.Duration) error {
	e := &apperr.Error{Kind: apperr.RateLimit, Code: "rate_limit_exceeded", RetryAfter: max(retry, time.Second)}
	switch d {
	case store.Parallel:
		e.Message = "This API key has as many requests in flight as it may; retry when one finished."
	case store.Requests:
		e.Message = "This API key reached its requests per minute."
	case store.Tokens:
		e.Message = "This API key reached its tokens per minute."
	case store.DailyBudget:
		e.Code, e.Message = "budget_exceeded", "This API key spent its daily budget; it resets at 00:00 UTC."
	case store.MonthlyBudget:
		e.Code, e.Message = "budget_exceeded", "This API key spent its monthly budget; it resets on the 1st at 00:00 UTC."
	}
	return e
}

// Admit checks that the key may use the model and, for a key with limits, reserves the
// estimate. The ticket (nil for a key without limits) carries the verdict for the
// x-ratelimit-* headers — also with the error of a refused request — and must be settled.
func (p *Policy) Admit(ctx context.Context, k *keys.Key, e Estimate) (*Ticket, error) {
	if k == nil {
		return nil, nil
	}
	if !k.Allows(e.Model) {
		return nil, errModel(e.Model)
	}
	if !k.Limited() {
		return nil, nil
	}
	tokens := int64(e.Prompt + e.Output)
	if k.TPM > 0 {
		// A request larger than the whole minute would never fit: it takes the minute.
		tokens = min(tokens, int64(k.TPM))
	}
	r := store.Reservation{Key: k.Name, Tokens: tokens, NanoUSD: nano(e.USD), Now: p.o.Clock(), Limits: store.Limits{
		RPM: int64(k.RPM), TPM: int64(k.TPM), MaxParallel: int64(k.MaxParallel),
		DailyNanoUSD: nano(k.DailyUSD), MonthlyNanoUSD: nano(k.MonthlyUSD)}}
	v, err := p.o.Store.Reserve(ctx, r)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("reserve: %w", err) // classified as the request's end
		}
		p.o.Log.WarnContext(ctx, "limit store failed; refusing", "key", k.Name, "error", err)
		return nil, errUnavailable
	}
	km := p.m.key(k.Name)
	t := &Ticket{p: p, key: k, km: km, r: r, v: v, estimate: e, done: v.Denied != store.Admitted}
	km.budget(v)
	if v.Denied != store.Admitted {
		km.limited.WithLabelValues(string(v.Denied)).Inc()
		return t, denial(v.Denied, v.RetryAfter)
	}
	km.admitted.Inc()
	km.reserved.Add(float64(tokens))
	return t, nil
}

// nano converts USD to whole 1e-9 USD, rounding up: a reservation never undercounts.
func nano(usd float64) int64 {
	if usd <= 0 || math.IsNaN(usd) {
		return 0
	}
	return int64(math.Min(math.Ceil(usd*1e9), math.MaxInt64/4))
}

// Ticket is one admitted (or refused) request of a limited key.
type Ticket struct {
	p        *Policy
	key      *keys.Key
	km       *keyMetrics
	r        store.Reservation
	v        store.Verdict
	estimate Estimate
	done     bool
}

// Key is the ticket's key.
func (t *Ticket) Key() *keys.Key { return t.key }

// Verdict is the store's answer: remaining requests and tokens, and when they reset.
func (t *Ticket) Verdict() store.Verdict { return t.v }

// Settle replaces the reservation by what the request used (zero tokens and cost: nothing
// was served, the reservation is released). It runs once; later calls do nothing. It does
// not use the request's cancellation: a client that left still spent what it spent.
func (t *Ticket) Settle(ctx context.Context, tokens int, usd float64) {
	if t == nil || t.done {
		return
	}
	t.done = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.p.o.SettleTimeout)
	defer cancel()
	s := store.Settlement{Reservation: t.r, Tokens: int64(tokens), NanoUSD: nano(usd), Local: t.v.Local}
	s.Now = t.p.o.Clock()
	s.Reservation.Now = t.r.Now
	if err := t.p.o.Store.Settle(ctx, s); err != nil {
		t.p.o.Log.WarnContext(ctx, "limit settlement lost; the reservation stays counted", "key", t.key.Name, "error", err)
	}
	t.km.used.Add(float64(tokens))
	t.km.spent.Add(usd)
}

// Over reports whether a stream that produced this many output tokens so far must be cut:
// its cost passed what the key's budgets had left for it when it was admitted (its own
// reservation included). False when streams finish over budget or the key has no budget.
func (t *Ticket) Over(outputTokens int) bool {
	if t == nil || !t.p.o.CutStreams {
		return false
	}
	allowance := int64(math.MaxInt64)
	for _, rest := range []int64{t.v.RemainingDailyNanoUSD, t.v.RemainingMonthlyNanoUSD} {
		if rest >= 0 {
			allowance = min(allowance, rest+t.r.NanoUSD)
		}
	}
	if allowance == math.MaxInt64 {
		return false
	}
	usd, _ := t.p.o.Prices.Chat(t.estimate.Model, wire.Usage{PromptTokens: t.estimate.Prompt, CompletionTokens: outputTokens})
	if nano(usd) <= allowance {
		return false
	}
	t.km.cut.Inc()
	return true
}

// ErrStreamOverBudget cuts a stream that crossed its key's budget.
var ErrStreamOverBudget = &apperr.Error{Kind: apperr.RateLimit, Code: "budget_exceeded",
	Message: "This API key's budget was spent while the stream ran; the stream was cut."}

// IsLimit reports whether an error is a key's own limit (not the gateway's or an upstream's).
func IsLimit(err error) bool {
	var e *apperr.Error
	return errors.As(err, &e) && (e.Code == "rate_limit_exceeded" || e.Code == "budget_exceeded")
}
