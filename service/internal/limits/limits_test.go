package limits

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/config"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/keys"
	"aiservice/service/internal/store"
)

var prices = cost.NewTable(map[string]config.Price{"m": {InputPer1M: 1_000_000, OutputPer1M: 1_000_000}}) // $1 a token

func policy(t *testing.T, s store.Limiter, now *time.Time) *Policy {
	t.Helper()
	return New(Options{Store: s, Prices: prices, MaxOutputTokens: 10, CutStreams: true, Clock: func() time.Time { return *now },
		Registry: prometheus.NewRegistry(), Keys: []string{"k"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), SettleTimeout: time.Second})
}

func key(t *testing.T, v config.VirtualKey) *keys.Key {
	t.Helper()
	v.Name, v.KeyEnv = "k", "K"
	r, err := keys.New(nil, []config.VirtualKey{v}, func(string) string { return "sk" })
	if err != nil {
		t.Fatal(err)
	}
	k, _ := r.Lookup("sk")
	return k
}

func code(err error) string {
	var e *apperr.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestAdmit(t *testing.T) {
	type req struct {
		prompt, maxOut int
		usedTokens     int
		usedUSD        float64
		code           string // "" admitted
	}
	for _, tc := range []struct {
		name string
		key  config.VirtualKey
		reqs []req
	}{
		{"rpm", config.VirtualKey{RPM: 2}, []req{{code: ""}, {code: ""}, {code: "rate_limit_exceeded"}}},
		{"tpm reserves prompt + max output and settles to usage", config.VirtualKey{TPM: 20}, []req{
			{prompt: 2, maxOut: 8, usedTokens: 3}, {prompt: 2, maxOut: 8}, {prompt: 2, maxOut: 8, code: "rate_limit_exceeded"}}},
		{"no max_tokens reserves the configured cap", config.VirtualKey{TPM: 11}, []req{{prompt: 1}, {prompt: 1, code: "rate_limit_exceeded"}}},
		{"the daily budget is a 429 budget_exceeded", config.VirtualKey{DailyUSD: 20}, []req{
			{prompt: 5, maxOut: 5, usedUSD: 2}, {prompt: 4, maxOut: 4}, {prompt: 6, maxOut: 5, code: "budget_exceeded"}}},
		{"another model is a 403", config.VirtualKey{Models: []string{"other"}}, []req{{code: "model_not_allowed"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
			p, k := policy(t, store.NewMemory(time.Now), &now), key(t, tc.key)
			for i, r := range tc.reqs {
				tk, err := p.Admit(context.Background(), k, p.Chat("m", r.prompt, r.maxOut, 1))
				if code(err) != r.code {
					t.Fatalf("request %d: %v, want code %q", i, err, r.code)
				}
				if err == nil && (r.usedTokens > 0 || r.usedUSD > 0) {
					tk.Settle(context.Background(), r.usedTokens, r.usedUSD)
				}
			}
		})
	}
}

func TestStoreDownFailsClosed(t *testing.T) {
	now := time.Now()
	p := policy(t, failing{}, &now)
	_, err := p.Admit(context.Background(), key(t, config.VirtualKey{RPM: 1}), p.Chat("m", 1, 1, 1))
	var e *apperr.Error
	if !errors.As(err, &e) || e.Kind != apperr.Unavailable || e.Code != "limits_unavailable" {
		t.Fatalf("got %v", err)
	}
}

type failing struct{}

func (failing) Reserve(context.Context, store.Reservation) (store.Verdict, error) {
	return store.Verdict{}, store.ErrUnavailable
}
func (failing) Settle(context.Context, store.Settlement) error { return store.ErrUnavailable }

func TestOver(t *testing.T) {
	now := time.Now()
	p := policy(t, store.NewMemory(time.Now), &now)
	tk, err := p.Admit(context.Background(), key(t, config.VirtualKey{DailyUSD: 30}), p.Chat("m", 2, 8, 1)) // reserves $10, $20 left
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		out  int
		over bool
	}{{8, false}, {28, false}, {29, true}} {
		if got := tk.Over(tc.out); got != tc.over {
			t.Fatalf("%d output tokens: over %v, want %v", tc.out, got, tc.over)
		}
	}
}
