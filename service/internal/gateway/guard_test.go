package gateway

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/config"
)

// The two budgets, step by step on one guard: unary calls count against max_in_flight alone,
// streams against max_streams alone, and a refused permit takes no slot.
func TestGuardBudgets(t *testing.T) {
	type step struct {
		do   string // "unary" or "stream": acquire; "release": give back the nth permit taken
		n    int
		want error // nil, errInFlight, errStreams
	}
	tests := []struct {
		name              string
		inFlight, streams int
		steps             []step
	}{
		{"unary calls over max_in_flight are shed", 2, 8, []step{
			{do: "unary"}, {do: "unary"}, {do: "unary", want: errInFlight},
			{do: "release", n: 0}, {do: "unary"},
		}},
		{"open streams leave max_in_flight to unary calls", 1, 8, []step{
			{do: "stream"}, {do: "stream"}, {do: "unary"}, {do: "unary", want: errInFlight}, {do: "stream"},
		}},
		{"streams over max_streams are shed, unary calls are not", 8, 2, []step{
			{do: "stream"}, {do: "stream"}, {do: "stream", want: errStreams}, {do: "unary"},
		}},
		{"closing a stream frees its slot", 8, 1, []step{
			{do: "stream"}, {do: "stream", want: errStreams}, {do: "release", n: 0}, {do: "stream"},
		}},
		{"unary calls at their cap leave streams admitted", 1, 1, []step{
			{do: "unary"}, {do: "stream"}, {do: "unary", want: errInFlight}, {do: "stream", want: errStreams},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSlots(tt.inFlight, tt.streams)
			g := testGuard(s)
			var held []permit
			var gone []bool
			for i, st := range tt.steps {
				switch st.do {
				case "unary", "stream":
					p, err := g.acquire("m", st.do == "stream")
					if !errors.Is(err, st.want) {
						t.Fatalf("step %d (%s): got %v, want %v", i, st.do, err, st.want)
					}
					if err == nil {
						held, gone = append(held, p), append(gone, false)
					}
				case "release":
					held[st.n].judge(Healthy)
					held[st.n].release()
					gone[st.n] = true
				}
			}
			// Giving back what is still held empties both budgets: no slot leaked or freed twice.
			for i, p := range held {
				if !gone[i] {
					p.judge(Healthy)
					p.release()
				}
			}
			if len(s.inFlight) != 0 || len(s.streams) != 0 {
				t.Errorf("after every release: %d in flight, %d streams held", len(s.inFlight), len(s.streams))
			}
		})
	}
}

// Through the gateway: an open stream does not count against max_in_flight, and a stream over
// max_streams is shed at once, with no attempt and no fallback.
func TestStreamBudgets(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Resilience.MaxInFlight, c.Resilience.MaxStreams = 1, 1 })
	h.on("pa", answer{chunk: []string{`{"id":"x","choices":[]}`}})
	st, _, err := h.g.ChatStream(context.Background(), chat("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.g.ChatRaw(context.Background(), chat("a")); err != nil {
		t.Fatalf("a unary call beside an open stream: %v, want it admitted", err)
	}
	_, call, err := h.g.ChatStream(context.Background(), chat("a"))
	if e := apperr.From(err); e == nil || e.Kind != apperr.RateLimit || e.Code != "overloaded" || call.Attempts != 0 {
		t.Fatalf("a second stream: %v after %d attempts, want a shed", err, call.Attempts)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, _, err = h.g.ChatStream(context.Background(), chat("a"))
	if err != nil {
		t.Fatalf("after the stream closed: %v", err)
	}
	_ = st.Close()
}

// A breaker that refuses takes no slot from either budget.
func TestOpenBreakerTakesNoSlot(t *testing.T) {
	s := newSlots(1, 1)
	g := testGuard(s)
	for range 5 {
		p, err := g.acquire("m", true)
		if err != nil {
			t.Fatal(err)
		}
		p.judge(Failing)
		p.release()
	}
	_, err := g.acquire("m", true)
	if e := apperr.From(err); e == nil || e.Code != "circuit_open" {
		t.Fatalf("got %v, want circuit_open", err)
	}
	if len(s.inFlight) != 0 || len(s.streams) != 0 {
		t.Errorf("slots held after a refusal: %d in flight, %d streams", len(s.inFlight), len(s.streams))
	}
}

func testGuard(s *slots) *guard {
	return newGuard(guardOpts{failures: 5, cooldown: 10e9, slots: s,
		state:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "s"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t"}, []string{"provider", "model", "deployment", "to"}),
		log:         slog.New(slog.DiscardHandler), provider: "p", model: "m", deployment: "p"})
}
