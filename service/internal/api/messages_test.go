package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"aiservice/service/internal/sim"
)

// anthropicYAML adds a model on the simulator's Anthropic dialect beside the defaults' OpenAI ones.
const anthropicYAML = `
providers:
  - {name: sim, type: sim}
  - {name: sim-anthropic, type: sim, dialect: anthropic}
models:
  - {name: gpt-4o-mini, provider: sim}
  - {name: claude-sonnet-4-5, provider: sim-anthropic}
  - {name: gpt-image-1, provider: sim, kind: image}
`

// anthropicError checks Anthropic's error shape and returns its error.type.
func anthropicError(t *testing.T, r result) string {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Type != "error" || e.Error.Type == "" || e.Error.Message == "" {
		t.Fatalf("not Anthropic's error shape (%v): %s", err, r.body)
	}
	return e.Error.Type
}

func TestMessagesBothDialects(t *testing.T) {
	f := newFixture(t, anthropicYAML)
	for _, model := range []string{"claude-sonnet-4-5", "gpt-4o-mini"} {
		t.Run(model, func(t *testing.T) {
			r := f.post("/v1/messages", `{"model":"`+model+`","max_tokens":64,"system":"Be brief.","messages":[{"role":"user","content":"Hello"}]}`,
				"anthropic-version", "2023-06-01")
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var m struct {
				Type, Model string
				Content     []struct{ Type, Text string }
				StopReason  string `json:"stop_reason"`
				Usage       struct {
					InputTokens  int      `json:"input_tokens"`
					OutputTokens int      `json:"output_tokens"`
					CostUSD      *float64 `json:"cost_usd"`
				}
			}
			if err := json.Unmarshal(r.body, &m); err != nil {
				t.Fatal(err)
			}
			if m.Type != "message" || m.Model != model || len(m.Content) != 1 || m.Content[0].Text == "" || m.StopReason != "end_turn" ||
				m.Usage.InputTokens == 0 || m.Usage.OutputTokens == 0 {
				t.Errorf("message %s", r.body)
			}
			if m.Usage.CostUSD == nil || r.header.Get("X-Cost-USD") == "" {
				t.Errorf("not priced: %s (X-Cost-USD %q)", r.body, r.header.Get("X-Cost-USD"))
			}

			r = f.post("/v1/messages", `{"model":"`+model+`","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`)
			if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("stream status %d: %s", r.status, r.body)
			}
			var names []string
			for _, ev := range events(r.body) {
				if ev[0] != "ping" {
					names = append(names, ev[0])
				}
				var data struct{ Type string }
				if err := json.Unmarshal([]byte(ev[1]), &data); err != nil || data.Type != ev[0] {
					t.Errorf("event %q carries %s", ev[0], ev[1])
				}
			}
			got := strings.Join(names, " ")
			if !strings.HasPrefix(got, "message_start content_block_start content_block_delta") || !strings.HasSuffix(got, "content_block_stop message_delta message_stop") {
				t.Errorf("events %s", got)
			}
			if strings.Contains(string(r.body), "[DONE]") || !strings.Contains(string(r.body), `"model":"`+model+`"`) {
				t.Errorf("stream body %s", r.body)
			}

			r = f.post("/v1/messages/count_tokens", `{"model":"`+model+`","messages":[{"role":"user","content":"Hello there"}]}`)
			if r.status != http.StatusOK || !strings.Contains(string(r.body), `"input_tokens":`) {
				t.Errorf("count_tokens %d: %s", r.status, r.body)
			}
		})
	}
}

// TestChatOnAnthropicUpstream: an OpenAI client's chat completions on a model served by an
// Anthropic-dialect upstream, translated both ways.
func TestChatOnAnthropicUpstream(t *testing.T) {
	f := newFixture(t, anthropicYAML)
	r := f.post("/v1/chat/completions", `{"model":"claude-sonnet-4-5","messages":[{"role":"system","content":"S"},{"role":"user","content":"Hello"}]}`)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"object":"chat.completion"`) || !strings.Contains(string(r.body), `"model":"claude-sonnet-4-5"`) {
		t.Fatalf("chat %d: %s", r.status, r.body)
	}
	r = f.post("/v1/chat/completions", `{"model":"claude-sonnet-4-5","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello"}]}`)
	evs := events(r.body)
	if r.status != http.StatusOK || len(evs) < 3 || evs[len(evs)-1][1] != "[DONE]" || !strings.Contains(evs[len(evs)-2][1], `"usage"`) {
		t.Fatalf("stream %d: %s", r.status, r.body)
	}
	r = f.post("/v1/chat/completions", `{"model":"claude-sonnet-4-5","n":2,"messages":[{"role":"user","content":"Hello"}]}`)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"param":"n"`) {
		t.Errorf("n = 2: %d %s", r.status, r.body)
	}
}

// TestMessagesErrors: bad input and failures on the Messages surface answer in Anthropic's
// shape with Anthropic's statuses; OpenAI's routes keep theirs.
func TestMessagesErrors(t *testing.T) {
	f := newFixture(t, anthropicYAML)
	for _, tc := range []struct {
		name, body string
		status     int
		typ        string
	}{
		{"not JSON", `{`, 400, "invalid_request_error"},
		{"no max_tokens", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error"},
		{"no messages", `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}`, 400, "invalid_request_error"},
		{"bad role", `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, 400, "invalid_request_error"},
		{"bad block", `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":[{"type":"video"}]}]}`, 400, "invalid_request_error"},
		{"unknown model", `{"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, 404, "not_found_error"},
		{"an image model", `{"model":"gpt-image-1","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error"},
		{"thinking to an OpenAI upstream", `{"model":"gpt-4o-mini","max_tokens":5,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.post("/v1/messages", tc.body)
			if r.status != tc.status || anthropicError(t, r) != tc.typ {
				t.Errorf("%d %s, want %d %s", r.status, r.body, tc.status, tc.typ)
			}
		})
	}
	if r := f.do(http.MethodPost, "/v1/messages", "text/plain", "x"); r.status != http.StatusUnsupportedMediaType || anthropicError(t, r) != "invalid_request_error" {
		t.Errorf("text/plain: %d %s", r.status, r.body)
	}
	f.behave(sim.Behaviour{ErrorRate: 1, ErrorStatus: 529})
	for _, model := range []string{"claude-sonnet-4-5", "gpt-4o-mini"} {
		r := f.post("/v1/messages", `{"model":"`+model+`","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`)
		if r.status != 529 || anthropicError(t, r) != "overloaded_error" {
			t.Errorf("%s upstream overloaded: %d %s", model, r.status, r.body)
		}
	}
	if r := f.post("/v1/chat/completions", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}]}`); r.status != http.StatusServiceUnavailable || r.errType(t) != "service_unavailable" {
		t.Errorf("chat on an overloaded Anthropic upstream: %d %s", r.status, r.body)
	}
}

func TestMessagesAcceptXAPIKey(t *testing.T) {
	f := newFixture(t, anthropicYAML+"api_keys: [k1]\n")
	body := `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`
	for _, tc := range []struct {
		name    string
		headers []string
		status  int
	}{
		{"x-api-key", []string{"x-api-key", "k1"}, 200},
		{"bearer", []string{"Authorization", "Bearer k1"}, 200},
		{"wrong x-api-key", []string{"x-api-key", "k2"}, 401},
		{"none", nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.post("/v1/messages", body, tc.headers...)
			if r.status != tc.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if tc.status == 401 && anthropicError(t, r) != "authentication_error" {
				t.Errorf("401 body %s", r.body)
			}
		})
	}
}

// TestMessagesWithoutUpstreamUsage: an OpenAI-dialect upstream that reports no usage still
// gives the Messages client a usage — estimated, marked, and priced — streamed or not.
func TestMessagesWithoutUpstreamUsage(t *testing.T) {
	f := newFixture(t, anthropicYAML)
	f.behave(sim.Behaviour{OmitUsage: true})
	for _, stream := range []bool{false, true} {
		extra := ""
		if stream {
			extra = `"stream":true,`
		}
		r := f.post("/v1/messages", `{"model":"gpt-4o-mini","max_tokens":64,`+extra+`"messages":[{"role":"user","content":"Hello"}]}`)
		if r.status != http.StatusOK {
			t.Fatalf("stream %v: %d %s", stream, r.status, r.body)
		}
		data := string(r.body)
		if stream {
			evs := events(r.body)
			data = evs[len(evs)-2][1] // message_delta carries the final usage
		}
		var m struct {
			Usage struct {
				InputTokens  int      `json:"input_tokens"`
				OutputTokens int      `json:"output_tokens"`
				CostUSD      *float64 `json:"cost_usd"`
				Estimated    bool     `json:"estimated"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(data), &m); err != nil || m.Usage.OutputTokens == 0 || m.Usage.InputTokens == 0 || !m.Usage.Estimated || m.Usage.CostUSD == nil {
			t.Errorf("stream %v: usage %+v (%v) in %s", stream, m.Usage, err, data)
		}
	}
}

// TestStreamErrorEventFromAnthropic: an Anthropic upstream's `error` event mid-stream reaches
// the client as the same failure would before the stream began — in Anthropic's types on the
// Messages surface, in OpenAI's on chat completions, as the code of Responses' error event —
// with the gateway's message, never the upstream's text. A stream whose connection drops is the
// upstream failing (api_error).
func TestStreamErrorEventFromAnthropic(t *testing.T) {
	const hello = `{"model":"claude-sonnet-4-5","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"hello there"}]}`
	f := newFixture(t, anthropicYAML)
	for _, tc := range []struct {
		name                        string
		behaviour                   sim.Behaviour
		messages, openai, responses string // the error event's type on each surface (Responses': its code)
	}{
		{"overloaded", sim.Behaviour{Chunks: 6, CutStreamAfter: 2}, "overloaded_error", "service_unavailable", "service_unavailable"},
		{"rate limited", sim.Behaviour{Chunks: 6, CutStreamAfter: 2, ErrorStatus: 429}, "rate_limit_error", "rate_limit_error", "upstream_rate_limited"},
		{"api error", sim.Behaviour{Chunks: 6, CutStreamAfter: 2, ErrorStatus: 500}, "api_error", "upstream_error", "upstream_error"},
		{"timeout", sim.Behaviour{Chunks: 6, CutStreamAfter: 2, ErrorStatus: 504}, "timeout_error", "timeout", "timeout"},
		{"dropped connection", sim.Behaviour{Chunks: 6, CutStreamAfter: 2, DropConnection: true}, "api_error", "upstream_error", "upstream_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.behave(tc.behaviour)
			for _, s := range []struct {
				path, body, want string
				typ              func(data []byte) string
			}{
				{"/v1/messages", hello, tc.messages, func(b []byte) string { return anthropicError(t, result{body: b}) }},
				{"/v1/chat/completions", hello, tc.openai, func(b []byte) string { return result{body: b}.errType(t) }},
				{"/v1/responses", `{"model":"claude-sonnet-4-5","stream":true,"input":"hello there"}`, tc.responses, func(b []byte) string {
					var e struct{ Type, Code string }
					if err := json.Unmarshal(b, &e); err != nil || e.Type != "error" {
						t.Fatalf("not Responses' error event (%v): %s", err, b)
					}
					return e.Code
				}},
			} {
				r := f.post(s.path, s.body)
				var data []byte
				for _, ev := range events(r.body) {
					if ev[0] == "error" {
						data = []byte(ev[1])
					}
				}
				if r.status != http.StatusOK || data == nil {
					t.Fatalf("%s: status %d, want a stream with an error event: %s", s.path, r.status, r.body)
				}
				if got := s.typ(data); got != s.want || strings.Contains(string(data), "simulated") {
					t.Errorf("%s: error event %s, want %s with the gateway's message", s.path, data, s.want)
				}
			}
		})
	}
}
