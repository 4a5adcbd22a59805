package chaos

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Faults on the upstream hop: service → proxy "upstream" → simulator.

// Latency on the upstream's answers: under the limits the request succeeds, only slower; past
// the route deadline the client gets a 504 timeout at the deadline, not later.
func TestUpstreamLatency(t *testing.T) {
	slowHeaders := defaultTune()
	// The header timeout is above the route deadline, so it is the route deadline that ends
	// the request.
	slowHeaders.HeaderTimeout = 3 * time.Second

	cases := []struct {
		name     string
		tune     tune
		latency  int // ms, on every chunk the simulator sends back
		status   int
		typ      string
		min, max time.Duration
	}{
		{name: "below_limits", tune: defaultTune(), latency: 150, status: http.StatusOK,
			min: 150 * time.Millisecond, max: 150*time.Millisecond + 400*time.Millisecond},
		{name: "beyond_route_deadline", tune: slowHeaders, latency: 1500, status: http.StatusGatewayTimeout, typ: "timeout",
			// Ended at the deadline: well before the 1.5 s the answer would have taken.
			min: slowHeaders.Chat, max: slowHeaders.Chat + 450*time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, setup{tune: tc.tune})
			e.toxic(e.up, "latency", "latency", "downstream", toxiclient.Attributes{"latency": tc.latency})

			r := e.chat(context.Background(), "gpt-4o-mini", "slow upstream")
			if r.Status != tc.status || r.Type != tc.typ {
				t.Fatalf("got %v, want %d %q", r, tc.status, tc.typ)
			}
			within(t, "the request", r.Elapsed, tc.min, tc.max)
			t.Logf("latency %dms: %v (route deadline %s)", tc.latency, r, tc.tune.Chat)
		})
	}
}

// A black hole (the upstream accepts the connection, then nothing comes back) is caught by the
// response-header timeout, well before the route deadline: without a fallback the client gets
// a 504 timeout; with one, the fallback model answers.
func TestUpstreamBlackHole(t *testing.T) {
	tn := defaultTune()
	tn.Chat = 5 * time.Second // the header timeout (300ms) must be what ends each attempt
	tn.MaxRetries = 1
	attempts := time.Duration(tn.MaxRetries + 1)
	// Well before the route deadline: at most half of it even on a loaded machine.
	upper := tn.Chat / 2

	t.Run("no_fallback", func(t *testing.T) {
		e := newEnv(t, setup{tune: tn})
		before, m0 := e.simStats(), e.metrics()
		// Upstream direction: the request never reaches the simulator.
		e.toxic(e.up, "blackhole", "timeout", "upstream", toxiclient.Attributes{"timeout": 0})

		r := e.chat(context.Background(), "gpt-4o-mini", "into the void")
		if r.Status != http.StatusGatewayTimeout || r.Type != "timeout" {
			t.Fatalf("got %v, want 504 timeout", r)
		}
		within(t, "the 504", r.Elapsed, attempts*tn.HeaderTimeout, upper)
		if after := e.simStats(); after.Requests != before.Requests {
			t.Errorf("the simulator saw %d requests through a black hole", after.Requests-before.Requests)
		}
		// Each attempt ended by the header timeout: counted as a timed-out upstream call.
		calls := "cost_provider_api_calls_total"
		kv := []string{"provider", "upstream", "model", "gpt-4o-mini", "outcome", "timeout"}
		if d := e.metrics().value(calls, kv...) - m0.value(calls, kv...); d != float64(attempts) {
			t.Errorf("%s{outcome=timeout} grew by %v, want %d (one per attempt)", calls, d, attempts)
		}
		t.Logf("black hole: %v (%d attempts × header timeout %s, route deadline %s)", r, attempts, tn.HeaderTimeout, tn.Chat)
	})

	t.Run("fallback", func(t *testing.T) {
		// gpt-4o goes to the simulator through its own proxy "primary", which is black-holed;
		// its fallback gpt-4o-mini goes through the healthy proxy "upstream".
		var primary *toxiclient.Proxy
		e := newEnv(t, setup{tune: tn, config: func(e *env) string {
			primary = e.proxy("primary", e.sim.Addr)
			return fmt.Sprintf(`providers:
  - {name: primary, type: openai, base_url: "http://%s/v1"}
  - {name: secondary, type: openai, base_url: "http://%s/v1"}
models:
  - {name: gpt-4o-mini, provider: secondary}
  - {name: gpt-4o, provider: primary, fallbacks: [gpt-4o-mini]}
  - {name: gpt-image-1, provider: secondary, kind: image}
`, primary.Listen, e.up.Listen) + tn.yaml()
		}})
		before, m0 := e.simStats(), e.metrics()
		e.toxic(primary, "blackhole", "timeout", "upstream", toxiclient.Attributes{"timeout": 0})

		r := e.chat(context.Background(), "gpt-4o", "primary is gone")
		if r.Status != http.StatusOK {
			t.Fatalf("got %v, want 200 from the fallback", r)
		}
		if r.Resp.Model != "gpt-4o-mini" {
			t.Errorf("answered by %q, want the fallback gpt-4o-mini", r.Resp.Model)
		}
		within(t, "the fallback answer", r.Elapsed, attempts*tn.HeaderTimeout, upper)
		after, m1 := e.simStats(), e.metrics()
		if got := after.ChatRequests - before.ChatRequests; got != 1 || after.LastModel != "gpt-4o-mini" {
			t.Errorf("simulator saw %d chat requests, last model %q; want only the fallback's (gpt-4o-mini)", got, after.LastModel)
		}
		fb := "upstream_fallbacks_total"
		if d := m1.value(fb, "model", "gpt-4o", "fallback", "gpt-4o-mini") - m0.value(fb, "model", "gpt-4o", "fallback", "gpt-4o-mini"); d != 1 {
			t.Errorf("%s{gpt-4o→gpt-4o-mini} grew by %v, want 1", fb, d)
		}
		t.Logf("black-holed primary, fallback: %v", r)
	})
}

// Connection failures (RST on every request, or the upstream down altogether) are retried,
// then answered 502; after breaker_failures consecutive failures the circuit opens and the
// next request is refused at once with 503 circuit_open, without touching the upstream. When
// the upstream is back, the first request after the cooldown is the half-open probe: it
// succeeds and closes the circuit.
func TestUpstreamConnectionFailures(t *testing.T) {
	cases := []struct {
		name        string
		fault, heal func(e *env)
	}{
		{
			name:  "reset_peer",
			fault: func(e *env) { e.toxic(e.up, "rst", "reset_peer", "upstream", toxiclient.Attributes{"timeout": 0}) },
			heal:  func(e *env) { e.removeToxic(e.up, "rst") },
		},
		{
			name: "down",
			fault: func(e *env) {
				if err := e.up.Disable(); err != nil {
					e.t.Fatal(err)
				}
			},
			heal: func(e *env) {
				if err := e.up.Enable(); err != nil {
					e.t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, setup{})
			tn := e.tune
			labels := []string{"provider", "upstream", "model", "gpt-4o-mini"}
			m0, sim0 := e.metrics(), e.simStats()
			tc.fault(e)
			// The circuit opens during the first request, so not before this instant.
			notBefore := time.Now()

			// 1. Retried, then a 502: connection failures are fast, so no timeout is involved.
			first := e.chat(context.Background(), "gpt-4o-mini", "upstream failing")
			if first.Status != http.StatusBadGateway || first.Type != "upstream_error" {
				t.Fatalf("first request: got %v, want 502 upstream_error", first)
			}
			within(t, "the 502", first.Elapsed, 0, tn.HeaderTimeout)
			m1 := e.metrics()
			if d := m1.value("upstream_retries_total", labels...) - m0.value("upstream_retries_total", labels...); d != float64(tn.MaxRetries) {
				t.Errorf("upstream_retries_total grew by %v, want %d (every retry used)", d, tn.MaxRetries)
			}
			if s := m1.value("circuit_breaker_state", labels...); s != 2 {
				t.Fatalf("circuit_breaker_state = %v after %d consecutive failures, want 2 (open)", s, tn.BreakerFailures)
			}
			if sim1 := e.simStats(); sim1.Requests != sim0.Requests {
				t.Errorf("the simulator saw %d requests through a dead connection", sim1.Requests-sim0.Requests)
			}

			// 2. Open circuit: refused at once, no upstream attempt.
			r := e.chat(context.Background(), "gpt-4o-mini", "circuit open")
			if r.Status != http.StatusServiceUnavailable || r.Type != "service_unavailable" || r.Code != "circuit_open" {
				t.Fatalf("second request: got %v, want 503 service_unavailable/circuit_open", r)
			}
			if r.Header.Get("Retry-After") == "" {
				t.Error("503 circuit_open without Retry-After")
			}
			within(t, "the circuit_open 503", r.Elapsed, 0, 250*time.Millisecond)
			attempts := "upstream_request_duration_seconds_count"
			if d := e.metrics().value(attempts, labels...) - m1.value(attempts, labels...); d != 0 {
				t.Errorf("%v upstream attempts while the circuit was open, want 0", d)
			}

			// 3. Heal; requests stay refused until the cooldown, then the probe closes the circuit.
			tc.heal(e)
			mHeal := e.metrics()
			refused := 0
			var last result
			recovered := eventually(t, tn.BreakerCooldown+2*time.Second, "circuit closes after the upstream is back", func() (bool, string) {
				last = e.chat(context.Background(), "gpt-4o-mini", "probe")
				if last.Status == http.StatusOK {
					// The probe was let through at the latest when its answer arrived.
					if early := time.Since(notBefore); early < tn.BreakerCooldown {
						t.Errorf("circuit let a request through within %s of opening, before the %s cooldown", early, tn.BreakerCooldown)
					}
					return true, ""
				}
				if last.Code != "circuit_open" {
					t.Fatalf("while waiting for the cooldown: got %v, want 503 circuit_open", last)
				}
				refused++
				return false, last.String()
			})
			sinceOpen := time.Since(notBefore)
			m2 := e.metrics()
			if d := m2.value(attempts, labels...) - mHeal.value(attempts, labels...); d != 1 {
				t.Errorf("%v upstream attempts from the heal to the first success, want 1 (the half-open probe)", d)
			}
			if s := m2.value("circuit_breaker_state", labels...); s != 0 {
				t.Errorf("circuit_breaker_state = %v after a successful probe, want 0 (closed)", s)
			}
			tr := "circuit_breaker_transitions_total"
			for _, to := range []string{"open", "half_open", "closed"} {
				if d := m2.value(tr, append(labels, "to", to)...) - m0.value(tr, append(labels, "to", to)...); d != 1 {
					t.Errorf("%s{to=%q} grew by %v, want 1", tr, to, d)
				}
			}
			t.Logf("%s: first request %v; open circuit answered in %s; %d requests refused while open; closed %s after the first request started (cooldown %s), %s after the heal",
				tc.name, first, r.Elapsed.Round(time.Millisecond), refused, sinceOpen.Round(time.Millisecond), tn.BreakerCooldown, recovered.Round(time.Millisecond))
		})
	}
}
