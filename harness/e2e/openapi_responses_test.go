package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"aiservice/harness/launch"
)

// oasResponsesServed are the Responses routes and the statuses each can answer (oasServed).
var oasResponsesServed = map[string][]int{
	"POST /v1/responses":                 {200, 400, 401, 403, 404, 413, 415, 429, 500, 502, 503, 504},
	"GET /v1/responses/{id}":             {200, 401, 404, 500},
	"DELETE /v1/responses/{id}":          {200, 401, 404, 500},
	"GET /v1/responses/{id}/input_items": {200, 400, 401, 404, 500},
}

func init() {
	for k, v := range oasResponsesServed {
		oasServed[k] = v
	}
	oasPriced = append(oasPriced, "POST /v1/responses")
}

// oasStoredResponse creates a stored response on the main instance for the GET, DELETE and
// input_items cases to read.
func oasStoredResponse(t *testing.T, env *oasEnv) string {
	t.Helper()
	resp, err := http.Post(env.inst["main"].URL+"/v1/responses", "application/json", strings.NewReader(`{"input":"Remember this."}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct{ ID string }
	if err := json.Unmarshal(b, &r); err != nil || r.ID == "" {
		t.Fatalf("create a stored response: %d %s", resp.StatusCode, b)
	}
	return r.ID
}

// oasResponsesCases covers every documented status of the Responses routes.
func oasResponsesCases(t *testing.T, env *oasEnv) []oasCase {
	kept, gone := oasStoredResponse(t, env), oasStoredResponse(t, env)
	bearer := map[string]string{"Authorization": "Bearer " + oasKey}
	fail := func(status int) func(t *testing.T) func(t *testing.T) {
		return env.setSim(launch.SimBehaviour{FailNext: 1, ErrorStatus: status})
	}
	post := func(name, body string, status int) oasCase {
		return oasCase{name: name, method: "POST", path: "/v1/responses", body: body, status: status}
	}
	bad := func(name, body string) oasCase {
		c := post(name, body, 400)
		c.invalid = true
		return c
	}
	text := `{"input":"Tell me something."}`
	items := "/v1/responses/" + kept + "/input_items"
	cases := []oasCase{
		post("create", `{"model":"gpt-4o-mini","input":"Hello","instructions":"Be brief.","max_output_tokens":64,"temperature":0.5,"top_p":1,"metadata":{"k":"v"},"user":"u","truncation":"disabled"}`, 200),
		post("create with items and tools", `{"input":[{"role":"user","content":[{"type":"input_text","text":"What is the weather in Paris?"}]}],
			"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}],"tool_choice":"required"}`, 200),
		post("create json_schema", `{"input":"A user","text":{"format":{"type":"json_schema","name":"u","schema":{"type":"object","properties":{"n":{"type":"string"}},"required":["n"]}}}}`, 200),
		post("continue", `{"input":"And again?","previous_response_id":"`+kept+`","store":false}`, 200),
		{name: "stream", method: "POST", path: "/v1/responses", body: `{"input":"Hi","stream":true}`, status: 200, sse: true},
		{name: "get", method: "GET", path: "/v1/responses/" + kept, status: 200},
		{name: "input_items", method: "GET", path: items + "?order=asc&limit=5", status: 200},
		{name: "delete", method: "DELETE", path: "/v1/responses/" + gone, status: 200},
		{name: "get deleted", method: "GET", path: "/v1/responses/" + gone, status: 404, code: "response_not_found"},
		{name: "delete deleted", method: "DELETE", path: "/v1/responses/" + gone, status: 404, code: "response_not_found"},
		{name: "input_items of unknown", method: "GET", path: "/v1/responses/resp_nope/input_items", status: 404, code: "response_not_found"},
		{name: "input_items bad limit", method: "GET", path: items + "?limit=0", status: 400, invalid: true},
		bad("no input", `{"model":"gpt-4o-mini"}`),
		bad("unknown role", `{"input":[{"role":"robot","content":"x"}]}`),
		bad("temperature out of range", `{"input":"x","temperature":3}`),
		bad("unknown format", `{"input":"x","text":{"format":{"type":"yaml"}}}`),
		post("unknown previous response", `{"input":"x","previous_response_id":"resp_nope"}`, 404),
		post("unknown model", `{"model":"nope","input":"x"}`, 404),
		{name: "oversized", method: "POST", path: "/v1/responses", body: `{"input":"` + strings.Repeat("p", 1<<20) + `"}`, chunked: true, status: 413, code: "request_too_large"},
		{name: "text/plain", method: "POST", path: "/v1/responses", body: text, ctype: "text/plain", status: 415, invalid: true},
		{name: "create without key", inst: "keyed", method: "POST", path: "/v1/responses", body: text, status: 401, code: "invalid_api_key"},
		{name: "create with a model the key may not use", inst: "keyed", method: "POST", path: "/v1/responses", body: text, status: 403, code: "model_not_allowed",
			header: map[string]string{"Authorization": "Bearer " + oasLimitedKey}},
		{name: "get without key", inst: "keyed", method: "GET", path: "/v1/responses/" + kept, status: 401, code: "invalid_api_key"},
		{name: "delete without key", inst: "keyed", method: "DELETE", path: "/v1/responses/" + kept, status: 401, code: "invalid_api_key"},
		{name: "input_items without key", inst: "keyed", method: "GET", path: items, status: 401, code: "invalid_api_key"},
		{name: "create with key", inst: "keyed", method: "POST", path: "/v1/responses", body: text, status: 200, header: bearer},
		{name: "upstream 500", inst: "fault", method: "POST", path: "/v1/responses", body: text, status: 502, before: fail(500)},
		{name: "upstream 503", inst: "fault", method: "POST", path: "/v1/responses", body: text, status: 503, before: fail(503)},
		{name: "upstream 429", inst: "fault", method: "POST", path: "/v1/responses", body: text, status: 429, before: fail(429)},
		{name: "deadline", inst: "fault", method: "POST", path: "/v1/responses", body: text, status: 504, before: env.setSim(launch.SimBehaviour{Latency: "2s"})},
		{name: "stream cut mid-way", inst: "fault", method: "POST", path: "/v1/responses", body: `{"input":"Tell me a story.","stream":true}`, status: 200, sse: true,
			before: env.setSim(launch.SimBehaviour{CutStreamAfter: 2}),
			check: func(t *testing.T, x *oasExchange) {
				if end := x.events[len(x.events)-1]; end.name != "response.failed" {
					t.Errorf("a cut stream ends with %q, want response.failed", end.name)
				}
			}},
	}
	return cases
}

// oasCheckResponsesStream checks a Responses stream: named typed events numbered from 0, the
// response objects valid against the document, ending in response.completed, .incomplete or
// (after an `error` event) response.failed.
func (e *oasEnv) oasCheckResponsesStream(t *testing.T, events []oasEvent) {
	t.Helper()
	resp := e.schema(t, "Response")
	for i, ev := range events {
		var data struct {
			Type     string          `json:"type"`
			Seq      *int            `json:"sequence_number"`
			Response json.RawMessage `json:"response"`
		}
		if err := json.Unmarshal([]byte(ev.data), &data); err != nil || data.Type != ev.name || data.Seq == nil || *data.Seq != i {
			t.Errorf("event %d %q: type or sequence_number wrong: %s", i, ev.name, ev.data)
		}
		if !strings.HasPrefix(ev.name, "response.") && ev.name != "error" {
			t.Errorf("event %d: undocumented event name %q", i, ev.name)
		}
		if data.Response != nil {
			oasVisit(t, resp, string(data.Response), fmt.Sprintf("event %d (%s)", i, ev.name))
		}
	}
	switch end := events[len(events)-1].name; end {
	case "response.completed", "response.incomplete", "response.failed":
	default:
		t.Errorf("the stream ends with %q", end)
	}
}
