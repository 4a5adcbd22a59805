package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/config"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/provider"
	"aiservice/service/internal/wire"
)

func TestRetries(t *testing.T) {
	conn := answer{err: &provider.ConnError{Err: io.ErrUnexpectedEOF}}
	for _, tc := range []struct {
		name     string
		script   []answer
		tune     func(*config.Config)
		want     apperr.Kind // Internal: success
		attempts int
		delays   []time.Duration
	}{
		{"503 then success", []answer{status(503), status(503), {body: okBody}}, nil, apperr.Internal, 3,
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{"connection error retried", []answer{conn, {body: okBody}}, nil, apperr.Internal, 2, []time.Duration{100 * time.Millisecond}},
		{"the caller's 400 is not retried", []answer{status(400)}, nil, apperr.InvalidRequest, 1, nil},
		{"retries run out", []answer{status(500)}, nil, apperr.Upstream, 3, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{"garbage is not retried", []answer{{body: "<html>"}}, nil, apperr.Upstream, 1, nil},
		{"Retry-After honoured", []answer{{err: &provider.StatusError{StatusCode: 429, RetryAfter: 1500 * time.Millisecond}}, {body: okBody}},
			nil, apperr.Internal, 2, []time.Duration{1500 * time.Millisecond}},
		{"budget spent", []answer{status(502)}, func(c *config.Config) {
			c.Resilience.RetryBudgetMin, c.Resilience.RetryBudgetRatio = 1, 0
		}, apperr.Upstream, 2, []time.Duration{100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) {
				c.Models[0].Fallbacks = nil
				if tc.tune != nil {
					tc.tune(c)
				}
			})
			h.on("pa", tc.script...)
			_, call, err := h.g.ChatRaw(context.Background(), chat("a"))
			if tc.want == apperr.Internal {
				if err != nil {
					t.Fatalf("error %v, want success", err)
				}
			} else if e := apperr.From(err); e == nil || e.Kind != tc.want || call.Failure.Err != e {
				t.Fatalf("error %v (call failure %v), want kind %v on both", err, call.Failure.Err, tc.want)
			}
			if call.Attempts != tc.attempts || len(h.ups["pa"].calls()) != tc.attempts {
				t.Errorf("attempts %d (upstream saw %d), want %d", call.Attempts, len(h.ups["pa"].calls()), tc.attempts)
			}
			if got := h.slept(); !slices.Equal(got, tc.delays) {
				t.Errorf("backoffs %v, want %v", got, tc.delays)
			}
			r := h.g.routes["a"]
			if got := counter(r.retries); got != float64(tc.attempts-1) {
				t.Errorf("upstream_retries_total = %v, want %d", got, tc.attempts-1)
			}
		})
	}
}

func TestRetryBudgetExhaustedCounted(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.Models[0].Fallbacks = nil
		c.Resilience.RetryBudgetMin, c.Resilience.RetryBudgetRatio = 1, 0
	})
	h.on("pa", status(503))
	for range 2 {
		_, _, _ = h.g.ChatRaw(context.Background(), chat("a"))
	}
	// One retry in the reserve: the first request's second retry and the second request's first
	// are refused.
	if got := counter(h.g.routes["a"].exhausted); got != 2 {
		t.Errorf("upstream_retry_budget_exhausted_total = %v, want 2", got)
	}
	if got := len(h.ups["pa"].calls()); got != 3 {
		t.Errorf("upstream saw %d calls, want 3", got)
	}
}

func TestNoRetryPastTheDeadline(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Models[0].Fallbacks = nil })
	h.on("pa", answer{err: &provider.StatusError{StatusCode: 503, RetryAfter: time.Hour}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, call, err := h.g.ChatRaw(ctx, chat("a"))
	if apperr.From(err).Kind != apperr.Unavailable || call.Attempts != 1 || len(h.slept()) != 0 {
		t.Fatalf("error %v after %d attempts and backoffs %v; want the 503 at once", err, call.Attempts, h.slept())
	}
}

func TestFallbackOrder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		a, b     []answer
		want     []string // upstream models called, in order
		servedBy string
		kind     apperr.Kind // Internal: success
	}{
		{"primary serves", []answer{{body: okBody}}, nil, []string{"up-a"}, "a", apperr.Internal},
		{"retries, then the first fallback", []answer{status(503)}, []answer{{body: okBody}}, []string{"up-a", "up-a", "up-a", "b"}, "b", apperr.Internal},
		{"then the second", []answer{status(500)}, []answer{status(502)}, []string{"up-a", "up-a", "up-a", "b", "b", "b", "c"}, "c", apperr.Internal},
		{"garbage: straight to the fallback", []answer{{body: "]"}}, []answer{{body: okBody}}, []string{"up-a", "b"}, "b", apperr.Internal},
		{"the caller's error does not fall back", []answer{status(422)}, nil, []string{"up-a"}, "a", apperr.InvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.on("pa", tc.a...)
			if tc.b != nil {
				h.on("pb", tc.b...)
			}
			_, call, err := h.g.ChatRaw(context.Background(), chat("a"))
			if tc.kind == apperr.Internal && err != nil || tc.kind != apperr.Internal && apperr.From(err).Kind != tc.kind {
				t.Fatalf("error %v, want kind %v", err, tc.kind)
			}
			var got []string
			for _, p := range []string{"pa", "pb", "pc"} {
				got = append(got, h.ups[p].calls()...)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("upstream calls %v, want %v", got, tc.want)
			}
			if call.Model != tc.servedBy || call.Attempts != len(tc.want) {
				t.Errorf("call model %q after %d attempts, want %q after %d", call.Model, call.Attempts, tc.servedBy, len(tc.want))
			}
		})
	}
}

func TestCallOfASuccess(t *testing.T) {
	h := newHarness(t, nil)
	h.on("pa", status(503), status(503), status(503))
	body, call, err := h.g.ChatRaw(context.Background(), chat("a"))
	if err != nil {
		t.Fatal(err)
	}
	// Served by b at $10/$20 per 1M: 1000 in, 500 out.
	if call.Model != "b" || call.Provider != "pb" || call.UpstreamModel != "b" || !call.Served || !call.Billable() ||
		call.Usage == nil || call.Usage.PromptTokens != 1000 || !call.Priced || math.Abs(call.CostUSD-0.02) > 1e-12 ||
		call.Attempts != 4 || call.Failure.Err != nil {
		t.Fatalf("call %+v", call)
	}
	if want := `"model":"b"`; !strings.Contains(string(body), want) || !strings.Contains(string(body), `"cost_usd":0.02`) {
		t.Errorf("body %s lacks %s or the cost", body, want)
	}
}

func TestBreaker(t *testing.T) {
	const cooldown = 500 * time.Millisecond // long enough that a loaded machine does not outwait it by accident
	h := newHarness(t, func(c *config.Config) {
		c.Models[0].Fallbacks = nil
		c.Resilience.MaxRetries = 0
		c.Resilience.BreakerFailures = 2
		c.Resilience.BreakerCooldown = config.Duration(cooldown)
	})
	r := h.g.routes["a"]
	state := h.g.m.state.WithLabelValues("pa", "a", "pa")
	to := func(s string) float64 { return counter(h.g.m.transitions.WithLabelValues("pa", "a", "pa", s)) }

	// Neither a 429 nor a caller that left says the upstream is broken.
	h.on("pa", status(429))
	for range 3 {
		_, _, _ = h.g.ChatRaw(context.Background(), chat("a"))
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	h.on("pa", answer{hang: true})
	_, call, err := h.g.ChatRaw(canceled, chat("a"))
	if apperr.From(err).Kind != apperr.Canceled || call.Failure.Verdict != NoVerdict {
		t.Fatalf("canceled call: %v, verdict %v", err, call.Failure.Verdict)
	}
	if got := counter(state); got != 0 {
		t.Fatalf("breaker state %v after 429s and a cancellation, want closed", got)
	}

	h.on("pa", status(500))
	for range 2 {
		_, _, _ = h.g.ChatRaw(context.Background(), chat("a"))
	}
	if counter(state) != 2 || to("open") != 1 {
		t.Fatalf("state %v, transitions to open %v; want open after 2 failures", counter(state), to("open"))
	}
	before := len(h.ups["pa"].calls())
	_, _, err = h.g.ChatRaw(context.Background(), chat("a"))
	if e := apperr.From(err); e.Kind != apperr.Unavailable || e.Code != "circuit_open" || e.RetryAfter <= 0 || e.RetryAfter > cooldown {
		t.Fatalf("open breaker answered %v (retry after %v)", err, e.RetryAfter)
	}
	if len(h.ups["pa"].calls()) != before {
		t.Fatal("an open breaker let a call through")
	}

	// After the cooldown one probe goes through; its success closes the breaker.
	deadline := time.Now().Add(5 * time.Second)
	for r.routes[0].guard.retryIn() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	h.on("pa", answer{body: okBody})
	if _, _, err := h.g.ChatRaw(context.Background(), chat("a")); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if counter(state) != 0 || to("half_open") != 1 || to("closed") != 1 {
		t.Fatalf("state %v, half-open %v, closed %v; want closed again through half-open", counter(state), to("half_open"), to("closed"))
	}
}

func TestCircuitOpenFallsBack(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.Resilience.MaxRetries = 0
		c.Resilience.BreakerFailures = 1
	})
	h.on("pa", status(500))
	h.on("pb", answer{body: okBody})
	_, _, _ = h.g.ChatRaw(context.Background(), chat("a")) // opens a's breaker, b serves
	_, call, err := h.g.ChatRaw(context.Background(), chat("a"))
	if err != nil || call.Model != "b" || call.Attempts != 1 {
		t.Fatalf("call %+v, %v; want b to serve without a's upstream being tried", call, err)
	}
	if got := len(h.ups["pa"].calls()); got != 1 {
		t.Errorf("a's upstream saw %d calls, want 1", got)
	}
}

func TestStreamTimers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []string
		code   string
	}{
		{"first token", nil, "first_token_timeout"},
		{"idle", []string{`{"id":"x","choices":[{"index":0,"delta":{"content":"hi"}}]}`}, "stream_idle_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) {
				c.Timeouts.StreamFirstToken = config.Duration(30 * time.Millisecond)
				c.Timeouts.StreamIdle = config.Duration(30 * time.Millisecond)
			})
			h.on("pa", answer{chunk: tc.chunks, stall: true})
			st, call, err := h.g.ChatStream(context.Background(), chat("a"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for range tc.chunks {
				if _, err := st.Next(); err != nil {
					t.Fatal(err)
				}
			}
			_, err = st.Next()
			if e := apperr.From(err); e == nil || e.Kind != apperr.Timeout || e.Code != tc.code {
				t.Fatalf("error %v, want %s", err, tc.code)
			}
			if call.Failure.Err == nil || call.Failure.Err.Code != tc.code {
				t.Errorf("call failure %v, want %s", call.Failure.Err, tc.code)
			}
			_ = st.Close()
			if call.Usage == nil || !call.Usage.Estimated || !call.Billable() {
				t.Errorf("a cut stream's call %+v, want its usage estimated and billable", call)
			}
		})
	}
}

func TestStreamCompletesItsCall(t *testing.T) {
	h := newHarness(t, nil)
	h.on("pa", answer{chunk: []string{
		`{"id":"x","created":1,"model":"up","choices":[{"index":0,"delta":{"content":"hi"}}]}`,
		`{"id":"x","created":1,"model":"up","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}}`,
	}})
	st, call, err := h.g.ChatStream(context.Background(), chat("a"))
	if err != nil {
		t.Fatal(err)
	}
	var last Event
	for {
		ev, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = ev
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if !last.UsageOnly || !strings.Contains(string(last.Data), `"cost_usd":0.002`) || !strings.Contains(string(last.Data), `"model":"a"`) {
		t.Errorf("usage chunk %s", last.Data)
	}
	if st.Call() != call || call.Usage.Estimated || math.Abs(call.CostUSD-0.002) > 1e-12 || call.Upstream <= 0 || call.Attempts != 1 {
		t.Errorf("call %+v", call)
	}
}

func TestCancellation(t *testing.T) {
	t.Run("while the upstream works", func(t *testing.T) {
		h := newHarness(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		until := make(chan struct{})
		h.on("pa", answer{hang: true, until: until})
		done := make(chan error, 1)
		go func() {
			_, _, err := h.g.ChatRaw(ctx, chat("a"))
			done <- err
		}()
		for len(h.ups["pa"].calls()) == 0 {
			time.Sleep(time.Millisecond) // poll until the upstream has the call
		}
		cancel()
		if err := <-done; apperr.From(err).Kind != apperr.Canceled {
			t.Fatalf("error %v, want canceled", err)
		}
		if n := len(h.ups["pb"].calls()) + len(h.ups["pa"].calls()); n != 1 {
			t.Errorf("%d upstream calls, want 1: a canceled request is neither retried nor handed on", n)
		}
	})
	t.Run("during the backoff", func(t *testing.T) {
		h := newHarness(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		h.g.sleep = func(context.Context, time.Duration) bool { cancel(); return false }
		h.on("pa", status(503))
		_, call, err := h.g.ChatRaw(ctx, chat("a"))
		if apperr.From(err).Kind != apperr.Canceled || call.Attempts != 1 || len(h.ups["pb"].calls()) != 0 {
			t.Fatalf("error %v after %d attempts (fallback saw %d); want canceled, no fallback", err, call.Attempts, len(h.ups["pb"].calls()))
		}
	})
	t.Run("the route deadline", func(t *testing.T) {
		h := newHarness(t, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		h.on("pa", answer{hang: true})
		_, call, err := h.g.ChatRaw(ctx, chat("a"))
		if e := apperr.From(err); e.Kind != apperr.Timeout || call.Failure.Outcome != "timeout" || call.Failure.Verdict != Failing {
			t.Fatalf("error %v (%+v), want the deadline's 504 counted against the upstream", err, call.Failure)
		}
	})
}

func TestUnknownModel(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct {
		model string
		kind  apperr.Kind
	}{{"nope", apperr.NotFound}, {"img", apperr.InvalidRequest}} {
		_, call, err := h.g.ChatRaw(context.Background(), chat(tc.model))
		if apperr.From(err).Kind != tc.kind || call == nil || call.Attempts != 0 || call.Billable() {
			t.Errorf("%s: %v, call %+v", tc.model, err, call)
		}
	}
}

// Each attempt's CLIENT span names the upstream (server.address, server.port, url.full) without
// the credentials or query its URL may carry, and the failure's error.type (issue 15 item 4).
func TestAttemptSpans(t *testing.T) {
	h := newHarness(t, nil)
	rec := h.traced()
	h.on("pa", status(503), answer{body: okBody})
	if _, _, err := h.g.ChatRaw(context.Background(), chat("a")); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want one per attempt (2)", len(spans))
	}
	for i, sp := range spans {
		attrs := map[string]string{}
		for _, kv := range sp.Attributes() {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		want := map[string]string{"server.address": "pa.example.com", "server.port": "443",
			"url.full": "https://pa.example.com/v1/chat", "aiservice.attempt": strconv.Itoa(i + 1)}
		if i == 0 {
			want["error.type"] = "503"
		}
		for k, v := range want {
			if attrs[k] != v {
				t.Errorf("span %d: %s = %q, want %q", i, k, attrs[k], v)
			}
		}
		if strings.Contains(fmt.Sprint(attrs), "secret") {
			t.Errorf("span %d leaks a credential: %v", i, attrs)
		}
	}
}

func TestCallAdd(t *testing.T) {
	served := func(model string, in, out int, usd float64, priced bool) *Call {
		return &Call{Spend: cost.Spend{Provider: "p-" + model, Model: model, Usage: &wire.Usage{PromptTokens: in, CompletionTokens: out,
			TotalTokens: in + out}, CostUSD: usd, Priced: priced}, Served: true, Attempts: 1, Upstream: time.Second}
	}
	failed := &Call{Spend: cost.Spend{Model: "a"}, Attempts: 3, Upstream: time.Second,
		Failure: Failure{Err: apperr.New(apperr.Upstream, "down")}}
	for _, tc := range []struct {
		name     string
		calls    []*Call
		model    string
		tokens   int
		usd      float64
		priced   bool
		billable bool
		attempts int
	}{
		{"one", []*Call{served("a", 10, 2, 0.5, true)}, "a", 12, 0.5, true, true, 1},
		{"two add up, the last names the model", []*Call{served("a", 10, 2, 0.5, true), served("b", 5, 1, 0.25, true)}, "b", 18, 0.75, true, true, 2},
		{"one unpriced call makes the run unpriced", []*Call{served("a", 10, 2, 0.5, true), served("a", 1, 1, 0, false)}, "a", 14, 0.5, false, true, 2},
		{"a failure after a served call keeps its spend", []*Call{served("a", 10, 2, 0.5, true), failed}, "a", 12, 0.5, true, true, 4},
		{"nothing served", []*Call{failed, nil}, "", 0, 0, false, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var run Call
			for _, c := range tc.calls {
				run.Add(c)
			}
			tokens := 0
			if run.Usage != nil {
				tokens = run.Usage.TotalTokens
			}
			if run.Model != tc.model || tokens != tc.tokens || math.Abs(run.CostUSD-tc.usd) > 1e-12 || run.Priced != tc.priced ||
				run.Billable() != tc.billable || run.Attempts != tc.attempts {
				t.Errorf("folded call %+v (tokens %d, billable %v)", run, tokens, run.Billable())
			}
		})
	}
}

// TestChatRawUsesTheProvidersScan: the answer is patched and priced from what the provider's
// one scan found (provider.ReadCompletion), and what that scan refuses is a final upstream
// failure, not retried.
func TestChatRawUsesTheProvidersScan(t *testing.T) {
	const choices = `"choices":[{"index":0,"message":{"role":"assistant","content":"hi there"},"finish_reason":"stop"}]`
	const usage = `"usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}`
	for _, tc := range []struct {
		name      string
		body      string
		want      []string // in the answer the client gets
		wantNot   []string
		estimated bool
		cost      float64
		kind      apperr.Kind // Internal: success
	}{
		{"usage read and priced", okBody, []string{`"model":"a"`, `"cost_usd":0.002`}, []string{`"up"`}, false, 0.002, apperr.Internal},
		{"escaped model name replaced", `{"object":"chat.completion","model":"u\u0070",` + choices + `,` + usage + `}`,
			[]string{`"model":"a"`, `"cost_usd":0.002`}, []string{`u\u0070`}, false, 0.002, apperr.Internal},
		{"usage null estimated", `{"object":"chat.completion","model":"up",` + choices + `,"usage":null}`,
			[]string{`"model":"a"`, `"estimated":true`, `"completion_tokens":2`}, []string{`null`}, true, 0, apperr.Internal},
		{"no usage estimated", `{"object":"chat.completion","model":"up",` + choices + `}`,
			[]string{`"model":"a"`, `"estimated":true`, `"completion_tokens":2`}, nil, true, 0, apperr.Internal},
		{"another object refused", `{"object":"list","model":"up",` + choices + `,` + usage + `}`, nil, nil, false, 0, apperr.Upstream},
		{"no choices refused", `{"object":"chat.completion","model":"up","choices":[],` + usage + `}`, nil, nil, false, 0, apperr.Upstream},
		{"implausible usage refused", `{"model":"up",` + choices + `,"usage":{"prompt_tokens":-3}}`, nil, nil, false, 0, apperr.Upstream},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) { c.Models[0].Fallbacks = nil })
			h.on("pa", answer{body: tc.body})
			body, call, err := h.g.ChatRaw(context.Background(), chat("a"))
			if tc.kind != apperr.Internal {
				if e := apperr.From(err); e == nil || e.Kind != tc.kind || call.Attempts != 1 {
					t.Fatalf("error %v after %d attempts, want kind %v after one", err, call.Attempts, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.want {
				if !strings.Contains(string(body), s) {
					t.Errorf("answer %s lacks %s", body, s)
				}
			}
			for _, s := range tc.wantNot {
				if strings.Contains(string(body), s) {
					t.Errorf("answer %s still has %s", body, s)
				}
			}
			if call.Usage == nil || call.Usage.Estimated != tc.estimated || !call.Priced ||
				!tc.estimated && math.Abs(call.CostUSD-tc.cost) > 1e-12 {
				t.Errorf("call usage %+v, cost %v (priced %v); want estimated %v, cost %v", call.Usage, call.CostUSD, call.Priced, tc.estimated, tc.cost)
			}
		})
	}
}
