// Package store holds the state that must hold across replicas: the limiter's counters (one
// atomic reserve and one settle per request) and a small bytes-with-TTL store for the response
// cache and stored responses. Two implementations with the same semantics: Memory, in the
// process (the default), and Redis (Redis or Valkey, shared by every replica). Guarded wraps
// either with a timeout per call, a circuit breaker and the configured failure mode.
package store

import (
	"context"
	"time"
)

// Limits are one key's limits for one reservation; zero means no limit.
type Limits struct {
	RPM, TPM, MaxParallel int64
	// DailyNanoUSD and MonthlyNanoUSD are budgets in 1e-9 USD: integers, so that Lua and Go
	// add them up exactly the same way.
	DailyNanoUSD, MonthlyNanoUSD int64
}

// Reservation asks to admit one request of a key: its request, its estimated tokens and USD,
// and a slot of its parallel requests, all at once or nothing.
type Reservation struct {
	Key     string // the key's name: bounded, from config
	Limits  Limits
	Tokens  int64 // estimated tokens (prompt + max output), at most Limits.TPM
	NanoUSD int64 // estimated cost
	Now     time.Time
}

// Denial names the limit that refused a reservation.
type Denial string

// The limits a reservation may hit.
const (
	Admitted      Denial = ""
	Parallel      Denial = "parallel"
	Requests      Denial = "requests"
	Tokens        Denial = "tokens"
	DailyBudget   Denial = "daily_budget"
	MonthlyBudget Denial = "monthly_budget"
)

// Verdict is a reservation's answer with what is left of each limit (after it, when admitted).
type Verdict struct {
	Denied     Denial
	RetryAfter time.Duration // when Denied: until the limit admits this request
	// RemainingRequests and RemainingTokens are what the limits would admit right now;
	// ResetRequests and ResetTokens are how long until they are full again.
	RemainingRequests, RemainingTokens int64
	ResetRequests, ResetTokens         time.Duration
	// RemainingDailyNanoUSD and RemainingMonthlyNanoUSD are what the budgets have left
	// (reservations in flight counted as spent); -1 when the key has no such budget.
	RemainingDailyNanoUSD, RemainingMonthlyNanoUSD int64
	// Local is set when the reservation was made in the local fallback, where it must be settled.
	Local bool
}

// Settlement turns a reservation into what the request really used (zero to release it).
type Settlement struct {
	Reservation
	Tokens, NanoUSD int64 // actual
	Local           bool  // settle in the local fallback (Verdict.Local)
}

// Limiter is the limit state.
type Limiter interface {
	Reserve(ctx context.Context, r Reservation) (Verdict, error)
	Settle(ctx context.Context, s Settlement) error
}

// Bytes is a key-value store of bytes with a time to live.
type Bytes interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

// Store is both.
type Store interface {
	Limiter
	Bytes
}

// period names the budget windows a time falls in: the UTC day and the UTC month, and when
// each ends (the reset boundary: 00:00 UTC, and 00:00 UTC on the first of the month).
type period struct {
	day, month       string
	dayEnd, monthEnd time.Time
}

func periodOf(now time.Time) period {
	u := now.UTC()
	d := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	m := time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
	return period{day: d.Format("20060102"), month: m.Format("200601"), dayEnd: d.AddDate(0, 0, 1), monthEnd: m.AddDate(0, 1, 0)}
}

// NextReset is when the budgets of a time next reset: the end of its UTC day and month.
func NextReset(now time.Time) (day, month time.Time) {
	p := periodOf(now)
	return p.dayEnd, p.monthEnd
}

// window is the GCRA window of the per-minute limits: a key may burst up to its whole limit.
const window = time.Minute

// parallelTTL bounds how long a parallel slot outlives a replica that died holding it.
const parallelTTL = 10 * time.Minute
