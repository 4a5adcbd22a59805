package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"aiservice/service/internal/sim"
)

const fastRetries = `
resilience: {max_retries: 2, backoff_base: 5ms, backoff_max: 20ms, breaker_failures: 3, breaker_cooldown: 300ms, retry_budget_min: 10, retry_budget_ratio: 0.2}
`

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		behaviour sim.Behaviour
		status    int
		attempts  int64 // upstream requests seen by the simulator
	}{
		{"503 twice then success", sim.Behaviour{FailNext: 2, ErrorStatus: 503}, 200, 3},
		{"429 then success", sim.Behaviour{FailNext: 1, ErrorStatus: 429}, 200, 2},
		{"500, 502, 504 are retried", sim.Behaviour{FailNext: 2, ErrorStatus: 502}, 200, 3},
		{"dropped connection is retried", sim.Behaviour{FailNext: 1, DropConnection: true}, 200, 2},
		{"400 is not retried and gets our own message", sim.Behaviour{FailNext: 1, ErrorStatus: 400}, 400, 1},
		{"persistent 503 gives up after max_retries", sim.Behaviour{FailNext: 10, ErrorStatus: 503}, 503, 3},
		{"persistent 500 is a 502", sim.Behaviour{FailNext: 10, ErrorStatus: 500}, 502, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fastRetries)
			f.behave(tt.behaviour)
			r := f.post("/v1/chat", userHi)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if got := f.app.Sim.Stats().Requests; got != tt.attempts {
				t.Errorf("upstream attempts = %d, want %d", got, tt.attempts)
			}
			if tt.status == 400 && (strings.Contains(string(r.body), "simulated upstream failure") || !strings.Contains(string(r.body), "upstream answered 400")) {
				t.Errorf("the upstream's own message was passed back: %s", r.body)
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	f := newFixture(t, fastRetries)
	f.behave(sim.Behaviour{FailNext: 1, ErrorStatus: 429, RetryAfter: sim.Duration(time.Second)})
	r := f.post("/v1/chat", userHi)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	within(t, "retry after Retry-After: 1", r.took, time.Second, 1500*time.Millisecond)
}

func TestRetryAfterBeyondDeadlineIsNotWaited(t *testing.T) {
	f := newFixture(t, fastRetries+"timeouts: {chat: 500ms}\n")
	f.behave(sim.Behaviour{FailNext: 1, ErrorStatus: 429, RetryAfter: sim.Duration(5 * time.Second)})
	r := f.post("/v1/chat", userHi)
	if r.status != 429 || r.errType(t) != "rate_limit_error" || r.header.Get("Retry-After") != "5" {
		t.Fatalf("status %d, Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if r.took > 200*time.Millisecond {
		t.Errorf("took %v: a retry that cannot fit in the deadline must not be waited for", r.took)
	}
}

func TestRetryBudget(t *testing.T) {
	f := newFixture(t, `resilience: {max_retries: 3, backoff_base: 1ms, backoff_max: 2ms, breaker_failures: 1000, retry_budget_min: 5, retry_budget_ratio: 0.1}`)
	f.behave(sim.Behaviour{ErrorRate: 1, ErrorStatus: 503})
	const n = 40
	for i := 0; i < n; i++ {
		if r := f.post("/v1/chat", userHi); r.status != 503 {
			t.Fatalf("status %d", r.status)
		}
	}
	// Without a budget: 40 × 4 = 160 attempts. With it: 40 + 5 reserve + 0.1 × 40.
	if got, limit := f.app.Sim.Stats().Requests, int64(n+5+4+1); got > limit {
		t.Errorf("upstream attempts = %d, want ≤ %d", got, limit)
	}
	if v := f.metric(`upstream_retry_budget_exhausted_total{model="gpt-4o-mini",provider="sim"}`); v == 0 {
		t.Error("budget exhaustion not counted")
	}
}

func TestFallback(t *testing.T) {
	f := newFixture(t, fastRetries)
	f.behave(sim.Behaviour{ErrorRate: 1, ErrorStatus: 503, ErrorModels: []string{"gpt-4o"}})
	r := f.post("/v1/chat", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if m := r.json(t); m["model"] != "gpt-4o-mini" {
		t.Errorf("served by %v, want the fallback gpt-4o-mini", m["model"])
	}
	if v := f.metric(`upstream_fallbacks_total{fallback="gpt-4o-mini",model="gpt-4o"}`); v != 1 {
		t.Errorf("fallbacks metric = %v", v)
	}
	// A caller's 4xx is not a reason to fall back.
	f = newFixture(t, fastRetries)
	f.behave(sim.Behaviour{ErrorRate: 1, ErrorStatus: 400, ErrorModels: []string{"gpt-4o"}})
	if r := f.post("/v1/chat", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`); r.status != 400 {
		t.Errorf("4xx from primary: status %d, want 400", r.status)
	}
}

func TestStreamFallbackBeforeFirstByte(t *testing.T) {
	f := newFixture(t, fastRetries)
	f.behave(sim.Behaviour{ErrorRate: 1, ErrorStatus: 502, ErrorModels: []string{"gpt-4o"}})
	r := f.post("/v1/chat/stream", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	if r.status != 200 || !strings.Contains(string(r.body), `"model":"gpt-4o-mini"`) || !strings.HasSuffix(strings.TrimSpace(string(r.body)), "[DONE]") {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
}

func TestStreamCutMidwayIsAnErrorEventAndCosted(t *testing.T) {
	f := newFixture(t, fastRetries)
	f.behave(sim.Behaviour{CutStreamAfter: 3, Chunks: 8})
	before := f.metric(`cost_estimated_usage_total{model="gpt-4o-mini",provider="sim"}`)
	r := f.post("/v1/chat/stream", userHi)
	evs := events(r.body)
	last := evs[len(evs)-1]
	if r.status != 200 || last[0] != "error" || !strings.Contains(last[1], "upstream_error") {
		t.Fatalf("status %d, last event %v", r.status, last)
	}
	if got := f.app.Sim.Stats().Requests; got != 1 {
		t.Errorf("a stream must not be retried after its first byte: %d upstream requests", got)
	}
	if d := f.metric(`cost_estimated_usage_total{model="gpt-4o-mini",provider="sim"}`) - before; d != 1 {
		t.Errorf("estimated usage delta = %v, want 1", d)
	}
	if v := f.metric(`cost_provider_tokens_total{model="gpt-4o-mini",provider="sim",type="output"}`); v == 0 {
		t.Error("tokens of the partial stream were not recorded")
	}
}

func TestStreamWithoutUpstreamUsageIsEstimated(t *testing.T) {
	f := newFixture(t, "")
	f.behave(sim.Behaviour{OmitUsage: true})
	r := f.post("/v1/chat/stream", userHi)
	if !strings.Contains(string(r.body), `"estimated":true`) || !strings.Contains(string(r.body), `"cost_usd"`) {
		t.Fatalf("no estimated usage chunk: %s", r.body)
	}
}

func TestCircuitBreaker(t *testing.T) {
	f := newFixture(t, `resilience: {max_retries: 0, breaker_failures: 3, breaker_cooldown: 300ms}
models:
  - {name: gpt-4o-mini, provider: sim}
  - {name: gpt-image-1, provider: sim, kind: image}`)
	state := `circuit_breaker_state{deployment="sim",model="gpt-4o-mini",provider="sim"}`
	f.behave(sim.Behaviour{ErrorRate: 1, ErrorStatus: 503})
	for i := 0; i < 3; i++ {
		if r := f.post("/v1/chat", userHi); r.status != 503 {
			t.Fatalf("failure %d: status %d", i, r.status)
		}
	}
	if v := f.metric(state); v != 2 {
		t.Fatalf("breaker state = %v, want 2 (open)", v)
	}
	seen := f.app.Sim.Stats().Requests
	r := f.post("/v1/chat", userHi)
	if r.status != 503 || !strings.Contains(string(r.body), "circuit_open") || r.header.Get("Retry-After") == "" {
		t.Fatalf("open circuit: status %d %s", r.status, r.body)
	}
	if f.app.Sim.Stats().Requests != seen {
		t.Error("an open circuit must not call the upstream")
	}
	if r.took > 50*time.Millisecond {
		t.Errorf("open circuit took %v: it must fail fast", r.took)
	}
	// After the cooldown one probe goes through; its success closes the circuit.
	f.behave(sim.Behaviour{})
	time.Sleep(350 * time.Millisecond) // the cooldown itself is what is under test
	if r := f.post("/v1/chat", userHi); r.status != 200 {
		t.Fatalf("probe: status %d", r.status)
	}
	if v := f.metric(state); v != 0 {
		t.Errorf("breaker state after probe = %v, want 0 (closed)", v)
	}
	if v := f.metric(`circuit_breaker_transitions_total{deployment="sim",model="gpt-4o-mini",provider="sim",to="open"}`); v != 1 {
		t.Errorf("open transitions = %v", v)
	}
}

func TestLoadShedding(t *testing.T) {
	f := newFixture(t, `resilience: {max_in_flight: 2}`)
	f.behave(sim.Behaviour{Latency: sim.Duration(400 * time.Millisecond)})
	var wg sync.WaitGroup
	statuses := make(chan int, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- f.post("/v1/chat", userHi).status
		}()
	}
	waitFor(t, "two requests in flight upstream", func() bool { return f.app.Sim.Stats().InFlight == 2 })
	r := f.post("/v1/chat", userHi)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "overloaded") {
		t.Fatalf("over the cap: status %d %s", r.status, r.body)
	}
	if r.took > 100*time.Millisecond {
		t.Errorf("shedding took %v: it must not queue", r.took)
	}
	if h := f.do("GET", "/healthz", "", ""); h.status != 200 {
		t.Errorf("healthz under load: %d", h.status)
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 {
			t.Errorf("admitted request: status %d", s)
		}
	}
	if r := f.post("/v1/chat", userHi); r.status != 200 {
		t.Errorf("after the burst: %d", r.status)
	}
	if v := f.metric(`load_shed_total{route="/v1/chat"}`); v != 1 {
		t.Errorf("load_shed_total = %v", v)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	f := newFixture(t, "")
	f.behave(sim.Behaviour{InterTokenDelay: sim.Duration(100 * time.Millisecond), Chunks: 50})
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/chat/stream", strings.NewReader(userHi))
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // the client goes away mid-stream
	waitFor(t, "the simulator sees the upstream stream cancelled", func() bool { return f.app.Sim.Stats().Canceled == 1 })
	waitFor(t, "no request left in flight", func() bool {
		return f.metric(`http_requests_in_flight{route="/v1/chat/stream"}`) == 0
	})
}

func TestChatWithoutUpstreamUsageIsEstimated(t *testing.T) {
	f := newFixture(t, "")
	f.behave(sim.Behaviour{OmitUsage: true})
	r := f.post("/v1/chat", userHi)
	var body struct {
		Usage *struct {
			CompletionTokens int      `json:"completion_tokens"`
			CostUSD          *float64 `json:"cost_usd"`
			Estimated        bool     `json:"estimated"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Usage == nil || !body.Usage.Estimated ||
		body.Usage.CompletionTokens == 0 || body.Usage.CostUSD == nil || r.header.Get("X-Cost-USD") == "" {
		t.Fatalf("usage not estimated: %s", r.body)
	}
	if v := f.metric(`cost_estimated_usage_total{model="gpt-4o-mini",provider="sim"}`); v != 1 {
		t.Errorf("cost_estimated_usage_total = %v", v)
	}
}

func TestUpstream429DoesNotOpenTheCircuit(t *testing.T) {
	f := newFixture(t, `resilience: {max_retries: 0, breaker_failures: 2}`)
	f.behave(sim.Behaviour{ErrorRate: 1, ErrorStatus: 429})
	for i := 0; i < 4; i++ {
		if r := f.post("/v1/chat", userHi); r.status != 429 || !strings.Contains(string(r.body), "upstream_rate_limited") {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	if v := f.metric(`circuit_breaker_state{deployment="sim",model="gpt-4o-mini",provider="sim"}`); v != 0 {
		t.Errorf("breaker state = %v after a 429 storm, want closed", v)
	}
}

func TestTrailingSlashIsNotRedirected(t *testing.T) {
	f := newFixture(t, "")
	for _, path := range []string{"/v1/models/", "/v1/chat/"} {
		r := f.do("GET", path, "", "")
		if r.status != 404 || r.header.Get("X-Request-Id") == "" || r.errType(t) != "not_found_error" {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
}

// A body that trickles in gets a 408 at the chat deadline — also on /v1/chat/completions, whose
// route deadline is the (long) stream one (issue 16 item 9).
func TestSlowBodyIsARequestTimeout(t *testing.T) {
	f := newFixture(t, "timeouts: {chat: 300ms, stream: 30s}")
	for _, path := range []string{"/v1/chat", "/v1/chat/completions"} {
		t.Run(path, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			req, _ := http.NewRequest("POST", f.srv.URL+path, pr)
			req.Header.Set("Content-Type", "application/json")
			req.ContentLength = 100
			go func() { _, _ = pw.Write([]byte(`{"messa`)) }() // and nothing more
			start := time.Now()
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "request_body_timeout") {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			within(t, "slow body", time.Since(start), 300*time.Millisecond, time.Second)
		})
	}
}
