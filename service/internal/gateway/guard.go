package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"aiservice/service/internal/apperr"
)

// guard admits attempts on one deployment: its circuit breaker and the gateway-wide slots.
type guard struct {
	breaker  *gobreaker.TwoStepCircuitBreaker[struct{}]
	cooldown time.Duration
	openedAt atomic.Int64 // unix ns of the last transition to open, for Retry-After
	slots    *slots
}

// slots are the gateway-wide admission budgets, shared by every route. A unary call is
// capped by max_in_flight: the upstream works for all of it and a slow or failing upstream
// piles such calls up. A stream has a budget of its own, max_streams: most of its life it only
// relays chunks as they come, costing memory rather than work (docs/performance.md sizes it),
// and counting it against max_in_flight refused half of 1,000 paced streams at the defaults.
type slots struct {
	inFlight chan struct{} // a unary call, from admission until its answer
	streams  chan struct{} // a stream, from admission until it closes
}

func newSlots(inFlight, streams int) *slots {
	return &slots{inFlight: make(chan struct{}, inFlight), streams: make(chan struct{}, streams)}
}

var (
	errInFlight = &apperr.Error{Kind: apperr.RateLimit, Code: "overloaded", RetryAfter: time.Second,
		Message: "The gateway is at its in-flight limit; retry shortly."}
	errStreams = &apperr.Error{Kind: apperr.RateLimit, Code: "overloaded", RetryAfter: time.Second,
		Message: "The gateway is at its limit of open streams; retry shortly."}
)

// breakerGauge is the circuit_breaker_state value of a state: 0 closed, 1 half-open, 2 open —
// the values the dashboards and alerts read (gobreaker's own numbering differs).
func breakerGauge(s gobreaker.State) float64 {
	switch s {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}

// breakerLabel is the `to` label of circuit_breaker_transitions_total.
func breakerLabel(s gobreaker.State) string {
	switch s {
	case gobreaker.StateHalfOpen:
		return "half_open"
	case gobreaker.StateOpen:
		return "open"
	}
	return "closed"
}

// Verdicts as the errors gobreaker judges: nil is a success, errNoVerdict is excluded.
var (
	errFailing   = errors.New("upstream failing")
	errNoVerdict = errors.New("no verdict")
)

type guardOpts struct {
	failures                    int
	cooldown                    time.Duration
	slots                       *slots
	state                       prometheus.Gauge
	transitions                 *prometheus.CounterVec
	log                         *slog.Logger
	provider, model, deployment string
}

// newGuard builds a deployment's guard: the breaker opens after `failures` consecutive
// failures, lets one probe through after the cooldown, and closes again when the probe succeeds.
func newGuard(o guardOpts) *guard {
	g := &guard{cooldown: o.cooldown, slots: o.slots}
	o.state.Set(0)
	g.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        o.model + "/" + o.deployment,
		MaxRequests: 1,
		Timeout:     o.cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(o.failures) },
		IsExcluded:  func(err error) bool { return errors.Is(err, errNoVerdict) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				g.openedAt.Store(time.Now().UnixNano())
			}
			o.state.Set(breakerGauge(to))
			o.transitions.WithLabelValues(o.provider, o.model, o.deployment, breakerLabel(to)).Inc()
			o.log.Warn("circuit breaker changed state", "provider", o.provider, "model", o.model,
				"deployment", o.deployment, "from", breakerLabel(from), "to", breakerLabel(to))
		},
	})
	return g
}

// permit is an admitted attempt: a breaker ticket and a slot of its budget, both given back
// exactly once (judge, release).
type permit struct {
	done func(error)
	slot chan struct{}
}

// acquire admits one attempt on the route of model, or says why not: an open breaker (the next
// route may serve) or a full budget (shed at once rather than queued behind a slow upstream).
func (g *guard) acquire(model string, stream bool) (permit, error) {
	done, err := g.breaker.Allow()
	if err != nil {
		return permit{}, &apperr.Error{Kind: apperr.Unavailable, Code: "circuit_open", RetryAfter: g.retryIn(),
			Message: fmt.Sprintf("The upstream for %q is failing; try again later.", model), Cause: errCircuitOpen}
	}
	slot, full := g.slots.inFlight, errInFlight
	if stream {
		slot, full = g.slots.streams, errStreams
	}
	select {
	case slot <- struct{}{}:
	default:
		done(errNoVerdict)
		return permit{}, full
	}
	return permit{done: done, slot: slot}, nil
}

// isOpen reports an open breaker: the deployment is skipped until its cooldown ends (gobreaker
// turns it half-open then, when it is next looked at).
func (g *guard) isOpen() bool { return g.breaker.State() == gobreaker.StateOpen }

// retryIn is how long until an open breaker lets a probe through (a half-open one is busy
// with its probe: about now).
func (g *guard) retryIn() time.Duration {
	if g.breaker.State() != gobreaker.StateOpen {
		return 0
	}
	return max(g.cooldown-time.Since(time.Unix(0, g.openedAt.Load())), 0)
}

// judge gives the breaker the attempt's verdict.
func (p permit) judge(v Verdict) {
	switch v {
	case Healthy:
		p.done(nil)
	case Failing:
		p.done(errFailing)
	default:
		p.done(errNoVerdict)
	}
}

// release frees the slot.
func (p permit) release() { <-p.slot }

// budget limits retries to a fraction of requests (plus a small reserve), so an outage is not
// multiplied by the retry count: each request deposits `ratio`, each retry withdraws one.
type budget struct {
	mu      sync.Mutex
	balance float64
	ratio   float64
	cap     float64
}

func newBudget(ratio, reserve float64) *budget {
	return &budget{balance: reserve, ratio: ratio, cap: max(reserve, 1) + 100*ratio}
}

func (b *budget) deposit() {
	b.mu.Lock()
	b.balance = min(b.balance+b.ratio, b.cap)
	b.mu.Unlock()
}

func (b *budget) withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.balance < 1 {
		return false
	}
	b.balance--
	return true
}
