package reliability

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// messagesCases are the matrix's hostile inputs on Anthropic's surface: each is answered with
// its 4xx in Anthropic's error shape ({"type":"error","error":{"type","message"}}), never
// OpenAI's, and the message stays short.
func messagesCases() []hcase {
	ok := `{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
	c := func(name, path, body string, want int, typ string) hcase {
		return hcase{name: "messages: " + name, run: func(t *testing.T, e *matrixEnv) {
			r := e.send(t, hcase{path: path, body: []byte(body)})
			assertAnthropic(t, r, want, typ)
		}}
	}
	return []hcase{
		c("empty body", "/v1/messages", " ", 400, "invalid_request_error"),
		c("not JSON", "/v1/messages", "{", 400, "invalid_request_error"),
		c("an array", "/v1/messages", "[]", 400, "invalid_request_error"),
		c("no max_tokens", "/v1/messages", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error"),
		c("max_tokens 0", "/v1/messages", strings.Replace(ok, `"max_tokens":16`, `"max_tokens":0`, 1), 400, "invalid_request_error"),
		c("content a number", "/v1/messages", `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":7}]}`, 400, "invalid_request_error"),
		c("unknown block type", "/v1/messages", `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":[{"type":"`+strings.Repeat("x", 5000)+`"}]}]}`, 400, "invalid_request_error"),
		c("a tool_use in a user turn", "/v1/messages", `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]}`, 400, "invalid_request_error"),
		c("a repeated key", "/v1/messages", `{"model":"gpt-4o-mini","model":"x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error"),
		c("deep nesting in content", "/v1/messages", `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":`+strings.Repeat("[", 20_000)+`}]}`, 400, "invalid_request_error"),
		c("body over the cap", "/v1/messages", `{"model":"`+strings.Repeat("m", matrixBodyCap)+`"}`, 413, "request_too_large"),
		c("unknown model", "/v1/messages", strings.Replace(ok, "gpt-4o-mini", strings.Repeat("n", 3000), 1), 404, "not_found_error"),
		c("count_tokens without messages", "/v1/messages/count_tokens", `{"model":"gpt-4o-mini"}`, 400, "invalid_request_error"),
		c("a valid request", "/v1/messages", ok, 200, ""),
		{name: "messages: no key", run: func(t *testing.T, e *matrixEnv) {
			assertAnthropic(t, e.send(t, hcase{path: "/v1/messages", body: []byte(ok), noAuth: true}), 401, "authentication_error")
		}},
		{name: "messages: text/plain", run: func(t *testing.T, e *matrixEnv) {
			assertAnthropic(t, e.send(t, hcase{path: "/v1/messages", ct: "text/plain", body: []byte(ok)}), 415, "invalid_request_error")
		}},
	}
}

// assertAnthropic checks a status and, for an error, Anthropic's envelope and type.
func assertAnthropic(t *testing.T, r *hresp, want int, typ string) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %.300s", r.status, want, r.body)
	}
	if want < 400 {
		if !json.Valid(r.body) || !bytes.Contains(r.body, []byte(`"type":"message"`)) {
			t.Errorf("not a message: %.300s", r.body)
		}
		return
	}
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Type != "error" || e.Error.Message == "" {
		t.Fatalf("not Anthropic's error shape (%v): %.300s", err, r.body)
	}
	if e.Error.Type != typ {
		t.Errorf("error type %q, want %q (%s)", e.Error.Type, typ, e.Error.Message)
	}
	if len(e.Error.Message) > 1024 {
		t.Errorf("error message of %d bytes echoes the input", len(e.Error.Message))
	}
}
