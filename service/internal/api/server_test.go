package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"aiservice/service/internal/sim"
)

func TestRoutesHappyPath(t *testing.T) {
	f := newFixture(t, "")
	tests := []struct {
		name, method, path, body string
		check                    func(t *testing.T, r result)
	}{
		{"chat", "POST", "/v1/chat", userHi, func(t *testing.T, r result) {
			m := r.json(t)
			if m["object"] != "chat.completion" || m["model"] != "gpt-4o-mini" {
				t.Errorf("object/model = %v/%v", m["object"], m["model"])
			}
			u := m["usage"].(map[string]any)
			if u["prompt_tokens"].(float64) <= 0 || u["completion_tokens"].(float64) <= 0 || u["cost_usd"].(float64) <= 0 {
				t.Errorf("usage = %v", u)
			}
			if r.header.Get("X-Cost-USD") == "" {
				t.Error("no X-Cost-USD header")
			}
		}},
		{"completions", "POST", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, func(t *testing.T, r result) {
			if m := r.json(t); m["model"] != "gpt-4o" || m["object"] != "chat.completion" {
				t.Errorf("body = %s", r.body)
			}
		}},
		{"images", "POST", "/v1/images", `{"prompt":"a red square","size":"256x256","n":2}`, func(t *testing.T, r result) {
			var body struct {
				Data []struct {
					B64 string `json:"b64_json"`
				} `json:"data"`
				Usage struct {
					Images  int      `json:"images"`
					CostUSD *float64 `json:"cost_usd"`
				} `json:"usage"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil || len(body.Data) != 2 || body.Usage.Images != 2 {
				t.Fatalf("body = %.200s (%v)", r.body, err)
			}
			raw, err := base64.StdEncoding.DecodeString(body.Data[0].B64)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(raw))
			if err != nil || img.Bounds().Dx() != 256 || img.Bounds().Dy() != 256 {
				t.Errorf("png: %v %v", err, img)
			}
			if body.Usage.CostUSD != nil {
				t.Error("256x256 has no gpt-image-1 price: cost must be absent, not a number")
			}
		}},
		{"image generations priced", "POST", "/v1/images/generations", `{"prompt":"a cat","size":"1024x1024","quality":"low","response_format":"url"}`, func(t *testing.T, r result) {
			m := r.json(t)
			d := m["data"].([]any)[0].(map[string]any)
			if !strings.HasPrefix(d["url"].(string), "data:image/png;base64,") {
				t.Errorf("url = %.40v", d["url"])
			}
			if c := m["usage"].(map[string]any)["cost_usd"]; c != 0.011 {
				t.Errorf("cost = %v, want 0.011", c)
			}
		}},
		{"agents", "GET", "/v1/agents", "", func(t *testing.T, r result) {
			m := r.json(t)
			if len(m["data"].([]any)) != 2 {
				t.Errorf("agents = %s", r.body)
			}
		}},
		{"agent", "GET", "/v1/agents/calculator", "", func(t *testing.T, r result) {
			if m := r.json(t); m["id"] != "calculator" || m["tools"].([]any)[0] != "calculator" {
				t.Errorf("agent = %s", r.body)
			}
		}},
		{"agent run", "POST", "/v1/agents/calculator/runs", `{"input":"What is (2 + 3) * 4?"}`, func(t *testing.T, r result) {
			var run struct {
				Status, Output string
				Steps          []struct{ Tool, Arguments, Result string }
				Usage          struct {
					TotalTokens int      `json:"total_tokens"`
					CostUSD     *float64 `json:"cost_usd"`
				}
			}
			if err := json.Unmarshal(r.body, &run); err != nil {
				t.Fatal(err)
			}
			if run.Status != "completed" || !strings.Contains(run.Output, "20") || len(run.Steps) != 1 ||
				run.Steps[0].Tool != "calculator" || run.Steps[0].Result != "20" || run.Usage.TotalTokens == 0 || run.Usage.CostUSD == nil {
				t.Errorf("run = %s", r.body)
			}
		}},
		{"models", "GET", "/v1/models", "", func(t *testing.T, r result) {
			m := r.json(t)
			if m["object"] != "list" || len(m["data"].([]any)) != 5 {
				t.Errorf("models = %s", r.body)
			}
		}},
		{"healthz", "GET", "/healthz", "", func(t *testing.T, r result) {
			if r.json(t)["status"] != "ok" {
				t.Error(string(r.body))
			}
		}},
		{"readyz", "GET", "/readyz", "", func(t *testing.T, r result) {
			if r.json(t)["status"] != "ready" {
				t.Error(string(r.body))
			}
		}},
		{"openapi", "GET", "/openapi.json", "", func(t *testing.T, r result) {
			if _, ok := r.json(t)["openapi"]; !ok {
				t.Error("no openapi field")
			}
		}},
		{"metrics", "GET", "/metrics", "", func(t *testing.T, r result) {
			for _, name := range []string{"http_requests_total", "slo_objective_ratio", "process_resident_memory_bytes", "circuit_breaker_state", "go_goroutines"} {
				if !strings.Contains(string(r.body), name) {
					t.Errorf("/metrics lacks %s", name)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := ""
			if tt.body != "" {
				ct = "application/json"
			}
			r := f.do(tt.method, tt.path, ct, tt.body)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if r.header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			tt.check(t, r)
		})
	}
}

func TestStreaming(t *testing.T) {
	f := newFixture(t, "")
	tests := []struct {
		name, path, body string
		wantUsage        bool
	}{
		{"chat stream always ends with usage", "/v1/chat/stream", userHi, true},
		{"completions without include_usage", "/v1/chat/completions", `{"stream":true,"messages":[{"role":"user","content":"hi"}]}`, false},
		{"completions with include_usage", "/v1/chat/completions", `{"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.post(tt.path, tt.body)
			if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d, content-type %q: %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			evs := events(r.body)
			if last := evs[len(evs)-1]; last[1] != "[DONE]" {
				t.Fatalf("last event %v, want [DONE]", last)
			}
			var text strings.Builder
			sawUsage := false
			for _, e := range evs[:len(evs)-1] {
				var c struct {
					Object  string
					Choices []struct{ Delta struct{ Content string } }
					Usage   *struct {
						CompletionTokens int      `json:"completion_tokens"`
						CostUSD          *float64 `json:"cost_usd"`
					}
				}
				if err := json.Unmarshal([]byte(e[1]), &c); err != nil || c.Object != "chat.completion.chunk" {
					t.Fatalf("chunk %q: %v", e[1], err)
				}
				for _, ch := range c.Choices {
					text.WriteString(ch.Delta.Content)
				}
				if c.Usage != nil {
					sawUsage = true
					if c.Usage.CompletionTokens == 0 || c.Usage.CostUSD == nil {
						t.Errorf("usage chunk = %s", e[1])
					}
				}
			}
			if sawUsage != tt.wantUsage {
				t.Errorf("usage chunk present = %v, want %v", sawUsage, tt.wantUsage)
			}
			if text.Len() == 0 {
				t.Error("no content streamed")
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t, "max_body_bytes: 4096")
	big := `{"messages":[{"role":"user","content":"` + strings.Repeat("a", 5000) + `"}]}`
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		errType, param                  string
	}{
		{"malformed json", "POST", "/v1/chat", "application/json", `{"messages":[`, 400, "invalid_request_error", ""},
		{"not json at all", "POST", "/v1/chat", "application/json", `hello`, 400, "invalid_request_error", ""},
		{"empty body", "POST", "/v1/chat", "application/json", ``, 400, "invalid_request_error", ""},
		{"array body", "POST", "/v1/chat", "application/json", `[1,2]`, 400, "invalid_request_error", ""},
		{"trailing data", "POST", "/v1/chat", "application/json", userHi + `{}`, 400, "invalid_request_error", ""},
		{"messages wrong type", "POST", "/v1/chat", "application/json", `{"messages":"hi"}`, 400, "invalid_request_error", "messages"},
		{"temperature wrong type", "POST", "/v1/chat", "application/json", `{"temperature":"hot","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "temperature"},
		{"missing messages", "POST", "/v1/chat", "application/json", `{}`, 400, "invalid_request_error", "messages"},
		{"empty messages", "POST", "/v1/chat", "application/json", `{"messages":[]}`, 400, "invalid_request_error", "messages"},
		{"bad role", "POST", "/v1/chat", "application/json", `{"messages":[{"role":"wizard","content":"x"}]}`, 400, "invalid_request_error", "messages[0].role"},
		{"missing content", "POST", "/v1/chat", "application/json", `{"messages":[{"role":"user"}]}`, 400, "invalid_request_error", "messages[0].content"},
		{"content wrong type", "POST", "/v1/chat", "application/json", `{"messages":[{"role":"user","content":5}]}`, 400, "invalid_request_error", ""},
		{"tool without id", "POST", "/v1/chat", "application/json", `{"messages":[{"role":"tool","content":"5"}]}`, 400, "invalid_request_error", "messages[0].tool_call_id"},
		{"temperature out of range", "POST", "/v1/chat", "application/json", `{"temperature":3,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "temperature"},
		{"negative max_tokens", "POST", "/v1/chat", "application/json", `{"max_tokens":-1,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "max_tokens"},
		{"huge max_tokens", "POST", "/v1/chat", "application/json", `{"max_tokens":99999999999,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "max_tokens"},
		{"n too large", "POST", "/v1/chat", "application/json", `{"n":129,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "n"},
		{"n zero", "POST", "/v1/chat", "application/json", `{"n":0,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "n"},
		{"stream on /v1/chat", "POST", "/v1/chat", "application/json", `{"stream":true,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "stream"},
		{"unknown model", "POST", "/v1/chat", "application/json", `{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}`, 404, "not_found_error", "model"},
		{"image model for chat", "POST", "/v1/chat", "application/json", `{"model":"gpt-image-1","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "model"},
		{"stream unknown model", "POST", "/v1/chat/stream", "application/json", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, 404, "not_found_error", "model"},
		{"stream malformed", "POST", "/v1/chat/stream", "application/json", `{"messages":`, 400, "invalid_request_error", ""},
		{"completions missing messages", "POST", "/v1/chat/completions", "application/json", `{"model":"gpt-4o"}`, 400, "invalid_request_error", "messages"},
		{"missing prompt", "POST", "/v1/images", "application/json", `{"size":"256x256"}`, 400, "invalid_request_error", "prompt"},
		{"n too large", "POST", "/v1/images", "application/json", `{"prompt":"x","n":11}`, 400, "invalid_request_error", "n"},
		{"n zero", "POST", "/v1/images/generations", "application/json", `{"prompt":"x","n":0}`, 400, "invalid_request_error", "n"},
		{"bad size", "POST", "/v1/images", "application/json", `{"prompt":"x","size":"13x13"}`, 400, "invalid_request_error", "size"},
		{"bad quality", "POST", "/v1/images", "application/json", `{"prompt":"x","quality":"ultra"}`, 400, "invalid_request_error", "quality"},
		{"chat model for images", "POST", "/v1/images", "application/json", `{"prompt":"x","model":"gpt-4o"}`, 400, "invalid_request_error", "model"},
		{"run missing input", "POST", "/v1/agents/calculator/runs", "application/json", `{}`, 400, "invalid_request_error", "input"},
		{"run input wrong type", "POST", "/v1/agents/calculator/runs", "application/json", `{"input":5}`, 400, "invalid_request_error", "input"},
		{"unknown agent", "POST", "/v1/agents/nobody/runs", "application/json", `{"input":"x"}`, 404, "not_found_error", ""},
		{"unknown agent get", "GET", "/v1/agents/nobody", "", ``, 404, "not_found_error", ""},
		{"path traversal agent", "GET", "/v1/agents/..%2f..%2fetc", "", ``, 404, "not_found_error", ""},
		{"unknown route", "GET", "/v1/nothing", "", ``, 404, "not_found_error", ""},
		{"wrong method", "GET", "/v1/chat", "", ``, 405, "invalid_request_error", ""},
		{"wrong method on healthz", "POST", "/healthz", "application/json", `{}`, 405, "invalid_request_error", ""},
		{"wrong content type", "POST", "/v1/chat", "text/plain", userHi, 415, "invalid_request_error", ""},
		{"form content type", "POST", "/v1/images", "application/x-www-form-urlencoded", `prompt=x`, 415, "invalid_request_error", ""},
		{"oversized body", "POST", "/v1/chat", "application/json", big, 413, "invalid_request_error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(tt.method, tt.path, tt.ctype, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if got := r.errType(t); got != tt.errType {
				t.Errorf("error.type %q, want %q", got, tt.errType)
			}
			if tt.param != "" {
				var e struct{ Error struct{ Param *string } }
				_ = json.Unmarshal(r.body, &e)
				if e.Error.Param == nil || *e.Error.Param != tt.param {
					t.Errorf("error.param = %v, want %q (%s)", e.Error.Param, tt.param, r.body)
				}
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("content-type %q", r.header.Get("Content-Type"))
			}
		})
	}
	// The service is still healthy after all of it.
	if r := f.post("/v1/chat", userHi); r.status != 200 {
		t.Fatalf("chat after bad input: %d", r.status)
	}
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t, "api_keys: [key-one, key-two]")
	tests := []struct {
		name, path, auth string
		status           int
	}{
		{"no key", "/v1/models", "", 401},
		{"wrong key", "/v1/models", "Bearer nope", 401},
		{"wrong scheme", "/v1/models", "Basic a2V5LW9uZQ==", 401},
		{"key without scheme", "/v1/models", "key-one", 401},
		{"first key", "/v1/models", "Bearer key-one", 200},
		{"second key, lowercase scheme", "/v1/models", "bearer key-two", 200},
		{"health stays open", "/healthz", "", 200},
		{"readiness stays open", "/readyz", "", 200},
		{"metrics stay open", "/metrics", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do("GET", tt.path, "", "", "Authorization", tt.auth)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status == 401 {
				if r.errType(t) != "authentication_error" {
					t.Errorf("type %s", r.errType(t))
				}
				if strings.Contains(string(r.body), "key-one") {
					t.Error("error body leaks a key")
				}
			}
		})
	}
	if strings.Contains(f.log.String(), "key-one") || strings.Contains(f.log.String(), "key-two") {
		t.Error("logs contain an API key")
	}
}

func TestRequestID(t *testing.T) {
	f := newFixture(t, "")
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"plain id is echoed", "req-123_abc.def:9", true},
		{"absent id is generated", "", false},
		{"id with spaces is replaced", "a b", false},
		{"overlong id is replaced", strings.Repeat("x", 200), false},
		{"id with quotes is replaced", `"><script>`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do("GET", "/healthz", "", "", "X-Request-Id", tt.sent)
			got := r.header.Get("X-Request-Id")
			if tt.echoed && got != tt.sent {
				t.Errorf("got %q, want %q", got, tt.sent)
			}
			if !tt.echoed && (got == tt.sent || len(got) != 32) {
				t.Errorf("got %q, want a fresh 32-hex id", got)
			}
		})
	}
}

func TestReadinessFlips(t *testing.T) {
	f := newFixture(t, "")
	f.app.Ready.Store(false)
	r := f.do("GET", "/readyz", "", "")
	if r.status != 503 || r.json(t)["status"] != "draining" {
		t.Fatalf("readyz while draining: %d %s", r.status, r.body)
	}
	if r := f.do("GET", "/healthz", "", ""); r.status != 200 {
		t.Errorf("healthz while draining: %d", r.status)
	}
}

func TestMetricsCountRequests(t *testing.T) {
	f := newFixture(t, "")
	before := f.metric(`http_requests_total{code="200",method="POST",route="/v1/chat"}`)
	badBefore := f.metric(`http_requests_total{code="404",method="GET",route="unmatched"}`)
	costBefore := f.metric(`cost_request_cost_usd_sum{model="gpt-4o-mini",provider="sim",route="/v1/chat"}`)
	var cost float64
	for i := 0; i < 3; i++ {
		r := f.post("/v1/chat", fmt.Sprintf(`{"messages":[{"role":"user","content":"question %d"}]}`, i))
		var body struct {
			Usage struct {
				CostUSD float64 `json:"cost_usd"`
			}
		}
		_ = json.Unmarshal(r.body, &body)
		cost += body.Usage.CostUSD
	}
	f.do("GET", "/v1/unknown/path/1", "", "")
	f.do("GET", "/v1/unknown/path/2", "", "")
	if d := f.metric(`http_requests_total{code="200",method="POST",route="/v1/chat"}`) - before; d != 3 {
		t.Errorf("chat 200 delta = %v, want 3", d)
	}
	if d := f.metric(`http_requests_total{code="404",method="GET",route="unmatched"}`) - badBefore; d != 2 {
		t.Errorf("unmatched 404 delta = %v, want 2 (raw paths must not become labels)", d)
	}
	if d := f.metric(`cost_request_cost_usd_sum{model="gpt-4o-mini",provider="sim",route="/v1/chat"}`) - costBefore; d < cost*0.999 || d > cost*1.001 {
		t.Errorf("cost sum delta = %v, want %v", d, cost)
	}
	if g := f.metric(`slo_events_total{result="good",route="/v1/chat",route_group="chat",slo="availability"}`); g < 3 {
		t.Errorf("availability good events = %v", g)
	}
}

func TestTimeouts(t *testing.T) {
	f := newFixture(t, `
timeouts: {chat: 300ms, stream: 2s, images: 300ms, agents: 300ms, stream_first_token: 200ms, stream_idle: 200ms}
resilience: {max_retries: 0}
`)
	t.Run("chat deadline is a 504 and cancels the upstream", func(t *testing.T) {
		f.behave(sim.Behaviour{Latency: sim.Duration(2 * time.Second)})
		before := f.app.Sim.Stats().Canceled
		r := f.post("/v1/chat", userHi)
		if r.status != 504 || r.errType(t) != "timeout" {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		within(t, "504", r.took, 300*time.Millisecond, 700*time.Millisecond)
		waitFor(t, "simulator sees the upstream request cancelled", func() bool { return f.app.Sim.Stats().Canceled > before })
	})
	t.Run("images deadline", func(t *testing.T) {
		f.behave(sim.Behaviour{Latency: sim.Duration(2 * time.Second)})
		r := f.post("/v1/images", `{"prompt":"x","size":"256x256"}`)
		if r.status != 504 || r.errType(t) != "timeout" {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("agents deadline", func(t *testing.T) {
		f.behave(sim.Behaviour{Latency: sim.Duration(2 * time.Second)})
		r := f.post("/v1/agents/calculator/runs", `{"input":"2+2"}`)
		if r.status != 504 || r.errType(t) != "timeout" {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("no first token is a 504 before any byte", func(t *testing.T) {
		f.behave(sim.Behaviour{TimeToFirstToken: sim.Duration(2 * time.Second)})
		r := f.post("/v1/chat/stream", userHi)
		if r.status != 504 || r.errType(t) != "timeout" {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		within(t, "first-token 504", r.took, 200*time.Millisecond, 600*time.Millisecond)
	})
	t.Run("idle stream ends with an SSE timeout event", func(t *testing.T) {
		f.behave(sim.Behaviour{InterTokenDelay: sim.Duration(time.Second), Chunks: 4})
		r := f.post("/v1/chat/stream", userHi)
		if r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		evs := events(r.body)
		last := evs[len(evs)-1]
		if last[0] != "error" || !strings.Contains(last[1], `"type":"timeout"`) || !strings.Contains(last[1], `"code":"stream_idle_timeout"`) {
			t.Fatalf("last event %v", last)
		}
		within(t, "idle timeout", r.took, 200*time.Millisecond, 700*time.Millisecond)
	})
	t.Run("stream total deadline ends with an SSE timeout event", func(t *testing.T) {
		// Gaps of a quarter of the 200 ms idle limit, for 5 s: only the 2 s total deadline may
		// end it, even on a loaded machine (150 ms gaps were sometimes stretched past the idle
		// limit there).
		f.behave(sim.Behaviour{InterTokenDelay: sim.Duration(50 * time.Millisecond), OutputTokens: 100, Chunks: 100})
		r := f.post("/v1/chat/stream", userHi)
		evs := events(r.body)
		if last := evs[len(evs)-1]; last[0] != "error" || !strings.Contains(last[1], `"type":"timeout"`) || strings.Contains(last[1], "stream_idle_timeout") {
			t.Fatalf("last event %v, want the route's deadline", last)
		}
		within(t, "stream deadline", r.took, 2*time.Second, 2600*time.Millisecond)
		if t.Failed() {
			t.Logf("events: %d, body tail %q\nlogs:\n%s", len(evs), r.body[max(0, len(r.body)-300):], f.log.String())
		}
	})
	f.behave(sim.Behaviour{})
	if r := f.post("/v1/chat", userHi); r.status != 200 {
		t.Fatalf("after timeouts: %d", r.status)
	}
	if n := f.metric(`http_request_timeouts_total{route="/v1/chat"}`); n != 1 {
		t.Errorf("http_request_timeouts_total{/v1/chat} = %v, want 1", n)
	}
}

// waitFor polls until cond holds or 3 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(3 * time.Second)
	for time.Now().Before(end) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting: %s", what)
}

// TestUnknownFieldsReachTheUpstream: a request that names its model is forwarded as sent, so
// parameters the gateway does not model (logprobs, metadata…) still reach the upstream.
// The client's request reaches the upstream as the client wrote it — fields the gateway does
// not know included, nothing re-encoded — with only the model (the upstream's name for it)
// and, for streams, the stream options changed.
func TestUnknownFieldsReachTheUpstream(t *testing.T) {
	var got []byte
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		var req struct{ Stream bool }
		_ = json.Unmarshal(got, &req)
		answer := `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			answer = "data: " + `{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}` + "\n\n" +
				"data: " + `{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}` + "\n\ndata: [DONE]\n\n"
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		_, _ = io.WriteString(w, answer)
	}))
	defer up.Close()
	f := newFixture(t, fmt.Sprintf(`
providers: [{name: up, type: openai, base_url: %s}]
models: [{name: m, provider: up, upstream_model: vendor-m-2025}]
default_model: m
agents: []
prices: {m: {input_per_1m: 1, output_per_1m: 2}}`, up.URL))
	tests := []struct {
		name, path, body string
		want             string // the upstream body, exactly
	}{
		{"chat", "/v1/chat", `{"model":"m","logprobs":true,"metadata":{"k":"v"},"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"vendor-m-2025","logprobs":true,"metadata":{"k":"v"},"messages":[{"role":"user","content":"hi"}]}`},
		{"chat on the default model", "/v1/chat", `{"messages":[{"role":"user","content":"hi"}], "x_vendor": [1, 2]}`,
			`{"messages":[{"role":"user","content":"hi"}], "x_vendor": [1, 2],"model":"vendor-m-2025"}`},
		{"stream", "/v1/chat/stream", `{"model":"m","reasoning_effort":"low","messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"vendor-m-2025","reasoning_effort":"low","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`},
		{"completions stream keeps the other stream options", "/v1/chat/completions",
			`{"model":"m","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":false},"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"vendor-m-2025","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.post(tt.path, tt.body)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if string(got) != tt.want {
				t.Errorf("upstream got\n %s\nwant\n %s", got, tt.want)
			}
			if strings.HasSuffix(tt.path, "stream") || strings.Contains(tt.body, `"stream":true`) {
				return
			}
			var body struct {
				Model string
				Usage struct {
					CostUSD float64 `json:"cost_usd"`
				}
			}
			if err := json.Unmarshal(r.body, &body); err != nil || body.Model != "m" || body.Usage.CostUSD != (3*1+1*2)/1e6 {
				t.Errorf("response %s (%v)", r.body, err)
			}
		})
	}
}

// n > 1 reaches the upstream and every choice comes back, as OpenAI answers it; usage and cost
// count all of them (issue 18).
func TestNChoices(t *testing.T) {
	f := newFixture(t, "")
	one := f.post("/v1/chat/completions", `{"messages":[{"role":"user","content":"hello there"}]}`).json(t)
	three := f.post("/v1/chat/completions", `{"n":3,"messages":[{"role":"user","content":"hello there"}]}`).json(t)
	choices, _ := three["choices"].([]any)
	if len(choices) != 3 {
		t.Fatalf("%d choices, want 3: %v", len(choices), three)
	}
	tokens := func(m map[string]any) float64 {
		u, _ := m["usage"].(map[string]any)
		v, _ := u["completion_tokens"].(float64)
		return v
	}
	cost := func(m map[string]any) float64 {
		u, _ := m["usage"].(map[string]any)
		v, _ := u["cost_usd"].(float64)
		return v
	}
	if tokens(three) <= 2*tokens(one) || cost(three) <= cost(one) {
		t.Errorf("n=3: %v completion tokens and $%v, one choice: %v and $%v; want all choices counted", tokens(three), cost(three), tokens(one), cost(one))
	}
	r := f.post("/v1/chat/completions", `{"n":2,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello there"}]}`)
	seen := map[float64]bool{}
	for _, ev := range events(r.body) {
		var c struct {
			Choices []struct{ Index float64 } `json:"choices"`
		}
		if json.Unmarshal([]byte(ev[1]), &c) == nil {
			for _, ch := range c.Choices {
				seen[ch.Index] = true
			}
		}
	}
	if !seen[0] || !seen[1] || len(seen) != 2 {
		t.Errorf("streamed choice indices %v, want 0 and 1", seen)
	}
}

// TestLongAnswersCarryTheirLength: a JSON answer over net/http's 2 KB buffer (which net/http
// would send chunked) goes out with its Content-Length, on every surface that answers whole
// bodies: gin's Data sets it, and nothing between may break it.
func TestLongAnswersCarryTheirLength(t *testing.T) {
	f := newFixture(t, "log_level: error")
	f.behave(sim.Behaviour{OutputTokens: 600})
	for _, tc := range []struct{ name, method, path, body string }{
		{"chat", http.MethodPost, "/v1/chat/completions", `{"max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`},
		{"responses", http.MethodPost, "/v1/responses", `{"max_output_tokens":1000,"input":"hi"}`},
		{"messages", http.MethodPost, "/v1/messages", `{"model":"gpt-4o-mini","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`},
		{"the OpenAPI document", http.MethodGet, "/openapi.json", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(tc.method, tc.path, "application/json", tc.body)
			if r.status != http.StatusOK || len(r.body) <= 2048 {
				t.Fatalf("status %d, %d bytes: %.200s", r.status, len(r.body), r.body)
			}
			if got := r.header.Get("Content-Length"); got != strconv.Itoa(len(r.body)) {
				t.Errorf("Content-Length %q for %d bytes (Transfer-Encoding %q)", got, len(r.body), r.header.Get("Transfer-Encoding"))
			}
		})
	}
}
