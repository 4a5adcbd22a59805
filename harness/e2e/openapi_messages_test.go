package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"aiservice/harness/launch"
)

// oasAnthropicYAML is the "anthropic" instance of TestOpenAPI: claude-haiku-4-5 on a
// `type: anthropic` provider (the external simulator's Messages dialect), with the fault
// instance's short deadlines and no retries, so one injected failure is one answer.
func oasAnthropicYAML(simURL string) string {
	return fmt.Sprintf(`
providers:
  - {name: anthropic-up, type: anthropic, base_url: %s}
models:
  - {name: claude-haiku-4-5, provider: anthropic-up}
default_model: claude-haiku-4-5
agents: []
timeouts: {messages: 1s, stream_first_token: 300ms, stream_idle: 300ms}
resilience: {max_retries: 0, breaker_failures: 1000}
`, simURL)
}

// oasMessagesCases provoke every status the Messages routes document, on both dialects: the
// main instance's gpt-4o-mini (an OpenAI-dialect upstream, translated) and the anthropic
// instance's claude-haiku-4-5 (passed through).
func oasMessagesCases(env *oasEnv) []oasCase {
	msg := func(model string, extra string) string {
		return `{"model":"` + model + `","max_tokens":64` + extra + `,"messages":[{"role":"user","content":"Tell me something."}]}`
	}
	count := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"Tell me something."}]}`
	}
	fail := func(status int, retryAfter string) func(t *testing.T) func(t *testing.T) {
		return env.setSim(launch.SimBehaviour{FailNext: 1, ErrorStatus: status, RetryAfter: retryAfter})
	}
	anthropicType := func(want string) func(t *testing.T, x *oasExchange) {
		return func(t *testing.T, x *oasExchange) {
			data := string(x.body)
			if x.events != nil {
				data = x.events[len(x.events)-1].data
			}
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type string `json:"type"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(data), &e); err != nil || e.Type != "error" || e.Error.Type != want {
				t.Errorf("Anthropic error type %q (%v), want %q: %s", e.Error.Type, err, want, data)
			}
		}
	}
	big := `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"` + strings.Repeat("a", 1<<20) + `"}]}`
	const m, c = "/v1/messages", "/v1/messages/count_tokens"
	var cases []oasCase
	for _, model := range []struct{ inst, name string }{{"main", "gpt-4o-mini"}, {"anthropic", "claude-haiku-4-5"}} {
		cases = append(cases,
			oasCase{name: model.name + " message", inst: model.inst, method: "POST", path: m, body: msg(model.name, ""), status: 200},
			oasCase{name: model.name + " stream", inst: model.inst, method: "POST", path: m, body: msg(model.name, `,"stream":true`), status: 200, sse: true},
			oasCase{name: model.name + " count_tokens", inst: model.inst, method: "POST", path: c, body: count(model.name), status: 200},
		)
	}
	for _, path := range []string{m, c} {
		cases = append(cases,
			oasCase{name: path + " malformed json", method: "POST", path: path, body: `{"model":`, status: 400, invalid: true, check: anthropicType("invalid_request_error")},
			oasCase{name: path + " no messages", method: "POST", path: path, body: `{"model":"gpt-4o-mini","max_tokens":5,"messages":[]}`, status: 400, invalid: true},
			oasCase{name: path + " unknown model", method: "POST", path: path, body: msg("claude-nope", ""), status: 404, check: anthropicType("not_found_error")},
			oasCase{name: path + " too large", method: "POST", path: path, body: big, status: 413, check: anthropicType("request_too_large")},
			oasCase{name: path + " text/plain", method: "POST", path: path, ctype: "text/plain", body: "hi", status: 415, invalid: true},
			oasCase{name: path + " without key", inst: "keyed", method: "POST", path: path, body: msg("gpt-4o-mini", ""), status: 401, check: anthropicType("authentication_error")},
			oasCase{name: path + " upstream 429", inst: "anthropic", method: "POST", path: path, body: msg("claude-haiku-4-5", ""), status: 429, before: fail(429, "2s"),
				check: anthropicType("rate_limit_error")},
			oasCase{name: path + " upstream 529", inst: "anthropic", method: "POST", path: path, body: msg("claude-haiku-4-5", ""), status: 529, before: fail(529, ""),
				check: anthropicType("overloaded_error")},
			oasCase{name: path + " upstream 500", inst: "anthropic", method: "POST", path: path, body: msg("claude-haiku-4-5", ""), status: 502, before: fail(500, ""),
				check: anthropicType("api_error")},
			oasCase{name: path + " deadline", inst: "anthropic", method: "POST", path: path, body: msg("claude-haiku-4-5", ""), status: 504,
				before: env.setSim(launch.SimBehaviour{Latency: "2s"}), check: anthropicType("timeout_error")},
		)
	}
	return append(cases,
		oasCase{name: "messages with a model the key may not use", inst: "keyed", method: "POST", path: m, body: msg("gpt-4o-mini", ""), status: 403,
			header: map[string]string{"x-api-key": oasLimitedKey}, check: anthropicType("permission_error")},
		oasCase{name: "messages thinking to an OpenAI upstream", method: "POST", path: m, body: msg("gpt-4o-mini", `,"thinking":{"type":"enabled","budget_tokens":1024}`), status: 400},
		oasCase{name: "messages stream upstream 503 is 529", inst: "anthropic", method: "POST", path: m, body: msg("claude-haiku-4-5", `,"stream":true`), status: 529, before: fail(503, "")},
		oasCase{name: "messages stream failing mid-way", inst: "anthropic", method: "POST", path: m, body: msg("claude-haiku-4-5", `,"stream":true`), status: 200, sse: true,
			before: env.setSim(launch.SimBehaviour{CutStreamAfter: 2}), check: anthropicType("overloaded_error")},
		oasCase{name: "messages stream cut mid-way", inst: "anthropic", method: "POST", path: m, body: msg("claude-haiku-4-5", `,"stream":true`), status: 200, sse: true,
			before: env.setSim(launch.SimBehaviour{CutStreamAfter: 2, DropConnection: true}), check: anthropicType("api_error")},
	)
}

// checkMessageStream validates an Anthropic event stream: each event named by its data's
// type and valid for MessageStreamEvent; it ends with message_stop or an error event.
func (e *oasEnv) checkMessageStream(t *testing.T, events []oasEvent) {
	t.Helper()
	schema, errSchema := e.schema(t, "MessageStreamEvent"), e.schema(t, "AnthropicError")
	for i, ev := range events {
		last := i == len(events)-1
		var typ struct{ Type string }
		if err := json.Unmarshal([]byte(ev.data), &typ); err != nil || (ev.name != typ.Type && !(ev.name == "error" && typ.Type == "error")) {
			t.Errorf("event %d: name %q, data type %q (%v)", i, ev.name, typ.Type, err)
		}
		switch {
		case ev.name == "error":
			oasVisit(t, errSchema, ev.data, fmt.Sprintf("error event %d", i))
			if !last {
				t.Errorf("event %d: the error event is not the last event", i)
			}
		default:
			oasVisit(t, schema, ev.data, fmt.Sprintf("event %d", i))
		}
	}
	if end := events[len(events)-1]; end.name != "message_stop" && end.name != "error" {
		t.Errorf("the stream ends with neither message_stop nor an error event: %+v", end)
	}
}
