package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"aiservice/harness/launch"
)

// oasServed is every route the gateway serves (service/internal/api/server.go), with the
// statuses each can answer. The document must list exactly these operations with exactly
// these responses; the 405 sweep and the unknown-route probes show nothing else is served.
var oasServed = map[string][]int{
	"POST /v1/chat":                  {200, 400, 401, 403, 404, 413, 415, 429, 500, 502, 503, 504},
	"POST /v1/chat/stream":           {200, 400, 401, 403, 404, 413, 415, 429, 500, 502, 503, 504},
	"POST /v1/chat/completions":      {200, 400, 401, 403, 404, 413, 415, 429, 500, 502, 503, 504},
	"POST /v1/images":                {200, 400, 401, 403, 404, 413, 415, 429, 500, 502, 503, 504},
	"POST /v1/images/generations":    {200, 400, 401, 403, 404, 413, 415, 429, 500, 502, 503, 504},
	"POST /v1/embeddings":            {200, 400, 401, 403, 404, 413, 415, 429, 500, 502, 503, 504},
	"GET /v1/agents":                 {200, 401, 500},
	"GET /v1/agents/{id}":            {200, 401, 404, 500},
	"POST /v1/agents/{id}/runs":      {200, 400, 401, 403, 404, 413, 415, 429, 500, 502, 503, 504},
	"GET /v1/models":                 {200, 401, 500},
	"GET /healthz":                   {200, 500},
	"GET /readyz":                    {200, 500, 503},
	"GET /metrics":                   {200},
	"GET /openapi.json":              {200, 500},
	"POST /v1/messages":              {200, 400, 401, 403, 404, 413, 415, 429, 500, 502, 504, 529},
	"POST /v1/messages/count_tokens": {200, 400, 401, 404, 413, 415, 429, 500, 502, 504, 529},
}

// oasPriced are the operations whose 200 carries X-Cost-USD.
var oasPriced = []string{"POST /v1/chat", "POST /v1/chat/completions", "POST /v1/images",
	"POST /v1/images/generations", "POST /v1/agents/{id}/runs", "POST /v1/embeddings", "POST /v1/messages"}

const oasKey = "sk-openapi-test"

// oasLimitedKey is a virtual key of the keyed instance that may use gpt-4o only: every other
// model is its 403.
const oasLimitedKey = "sk-openapi-limited"

// The fault instance talks to an external simulator with short deadlines, no retries (one
// injected failure is one client-visible failure), a breaker that does not trip, and room for
// a single upstream call so the in-flight cap can be hit with two requests.
const oasFaultYAML = `
timeouts:
  chat: 1s
  stream: 3s
  images: 1s
  agents: 1s
  embeddings: 1s
  stream_first_token: 300ms
  stream_idle: 300ms
resilience:
  max_retries: 0
  breaker_failures: 1000
  max_in_flight: 1
`

// The circuit instance opens its breaker after one upstream failure and keeps it open.
const oasCircuitYAML = `
resilience:
  max_retries: 0
  breaker_failures: 1
  breaker_cooldown: 1m
`

// TestOpenAPI checks that the served OpenAPI document is valid, lists exactly the served
// routes, and that real requests and responses on every route — successes and every error
// status that can be provoked — conform to it.
func TestOpenAPI(t *testing.T) {
	mainP := launch.MustStartService(t, launch.Options{})
	keyed := launch.MustStartService(t, launch.Options{Args: []string{"--api-keys", oasKey},
		Config: fmt.Sprintf("keys: [{name: limited, hash: \"sha256:%x\", models: [gpt-4o]}]\n", sha256.Sum256([]byte(oasLimitedKey)))})
	simP := launch.MustStartSim(t, launch.Options{})
	fault := launch.MustStartService(t, launch.Options{Config: launch.UpstreamConfig(simP.URL, oasFaultYAML)})
	anthropicP := launch.MustStartService(t, launch.Options{Config: oasAnthropicYAML(simP.URL)})
	circuit := launch.MustStartService(t, launch.Options{Config: launch.UpstreamConfig(simP.URL, oasCircuitYAML),
		Args: []string{"--pre-drain-delay", "3s", "--grace-period", "1s"}})

	raw := oasFetch(t, mainP.URL+"/openapi.json")
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("load /openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("/openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if other := oasFetch(t, keyed.URL+"/openapi.json"); string(other) != string(raw) {
		t.Error("two instances serve different documents")
	}

	t.Run("document", func(t *testing.T) { oasCheckDocument(t, doc) })
	t.Run("schemas", func(t *testing.T) { oasCheckSchemas(t, doc) })

	env := newOASEnv(t, doc, map[string]*launch.Process{"main": mainP, "keyed": keyed, "fault": fault, "circuit": circuit, "anthropic": anthropicP},
		launch.SimControl{URL: simP.URL})
	t.Run("routes", func(t *testing.T) { oasCheckRoutes(t, env) })
	for _, group := range []struct {
		name  string
		cases []oasCase
	}{
		{"success", oasSuccessCases()},
		{"client-errors", oasClientErrorCases()},
		{"auth", oasAuthCases()},
		{"upstream-faults", oasFaultCases(env)},
		{"circuit", oasCircuitCases(env)},
		{"messages", oasMessagesCases(env)},
		{"responses", oasResponsesCases(t, env)},
	} {
		t.Run(group.name, func(t *testing.T) {
			for _, c := range group.cases {
				t.Run(c.name, func(t *testing.T) { env.run(t, c) })
			}
		})
	}
	// Last: it shuts the circuit instance down.
	t.Run("draining", func(t *testing.T) { oasCheckDraining(t, env, circuit) })

	// Every route was answered with a 200, every error status was provoked and validated, and
	// so was every documented (route, status) pair except 500, which only a bug produces.
	// (Only meaningful when the whole test ran, not a -run selection of subtests.)
	if f := flag.Lookup("test.run"); f != nil && strings.Contains(f.Value.String(), "/") {
		t.Log("subtests selected with -run: coverage of routes and statuses not checked")
		return
	}
	seen := map[int]bool{405: true} // the 405s are validated in "routes" against the shared response
	for key := range oasServed {
		if !env.covered[key][200] {
			t.Errorf("%s: no 200 was validated", key)
		}
		for s := range env.covered[key] {
			seen[s] = true
		}
	}
	for _, s := range []int{400, 401, 404, 405, 413, 415, 429, 502, 503, 504} {
		if !seen[s] {
			t.Errorf("status %d was never provoked and validated", s)
		}
	}
	var gaps []string
	for key, statuses := range oasServed {
		for _, s := range statuses {
			if !env.covered[key][s] && s != 500 {
				gaps = append(gaps, fmt.Sprintf("%s %d", key, s))
			}
		}
	}
	sort.Strings(gaps)
	if len(gaps) > 0 {
		t.Errorf("documented statuses never provoked on their route: %s", strings.Join(gaps, ", "))
	}
}

func oasFetch(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}

// oasCheckDocument compares the document's operations and responses with oasServed and
// checks the conventions every operation must follow.
func oasCheckDocument(t *testing.T, doc *openapi3.T) {
	documented := map[string][]int{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			var statuses []int
			for code := range op.Responses.Map() {
				n, err := strconv.Atoi(code)
				if err != nil {
					t.Errorf("%s: response %q is not a status code (no default or ranges: every status is listed)", key, code)
					continue
				}
				statuses = append(statuses, n)
			}
			sort.Ints(statuses)
			documented[key] = statuses
			oasCheckOperation(t, key, op)
		}
	}
	for key, want := range oasServed {
		got, ok := documented[key]
		switch {
		case !ok:
			t.Errorf("served route %s is not in the document", key)
		case !slices.Equal(got, want):
			t.Errorf("%s documents statuses %v, the service answers %v", key, got, want)
		}
	}
	for key := range documented {
		if _, ok := oasServed[key]; !ok {
			t.Errorf("the document lists %s, which the service does not serve", key)
		}
	}
	for _, name := range []string{"UnknownRoute", "MethodNotAllowed"} {
		if doc.Components.Responses[name] == nil {
			t.Errorf("components.responses.%s (the answer to undocumented paths/methods) is missing", name)
		}
	}
}

func oasCheckOperation(t *testing.T, key string, op *openapi3.Operation) {
	t.Helper()
	if op.OperationID == "" {
		t.Errorf("%s: no operationId", key)
	}
	// /v1/* take an optional bearer key: [{bearerAuth: []}, {}]; the probes take none.
	secured := strings.Contains(key, " /v1/")
	switch {
	case op.Security == nil:
		t.Errorf("%s: no security requirement stated", key)
	case secured && !(len(*op.Security) == 2 && (*op.Security)[0]["bearerAuth"] != nil && len((*op.Security)[1]) == 0):
		t.Errorf("%s: security = %v, want [{bearerAuth: []}, {}]", key, *op.Security)
	case !secured && len(*op.Security) != 0:
		t.Errorf("%s: security = %v, want none", key, *op.Security)
	}
	for code, ref := range op.Responses.Map() {
		r := ref.Value
		hdr := func(name string) *openapi3.Header {
			if h := r.Headers[name]; h != nil {
				return h.Value
			}
			return nil
		}
		if h := hdr("X-Request-Id"); h == nil || !h.Required {
			t.Errorf("%s %s: X-Request-Id is not a required header", key, code)
		}
		if (code == "429" || code == "503") && hdr("Retry-After") == nil {
			t.Errorf("%s %s: no Retry-After header", key, code)
		}
		if code == "401" && (hdr("WWW-Authenticate") == nil || !hdr("WWW-Authenticate").Required) {
			t.Errorf("%s 401: WWW-Authenticate is not a required header", key)
		}
		if code == "200" && slices.Contains(oasPriced, key) && hdr("X-Cost-USD") == nil {
			t.Errorf("%s 200: no X-Cost-USD header", key)
		}
		if code != "200" && code != "503" || code == "503" && key != "GET /readyz" {
			if mt := r.Content.Get("application/json"); mt == nil || mt.Schema == nil {
				t.Errorf("%s %s: no application/json schema", key, code)
			}
		}
	}
}

// oasCheckSchemas shows the schemas are tight enough for validation to mean something:
// shapes the gateway must never send fail, and the nullable fields accept null.
func oasCheckSchemas(t *testing.T, doc *openapi3.T) {
	cases := []struct {
		schema, json string
		ok           bool
	}{
		{"Error", `{"error":{"message":"m","type":"timeout","code":null,"param":null}}`, true},
		{"Error", `{"error":{"message":"m","type":"timeout","code":"x"}}`, false},            // param missing
		{"Error", `{"error":{"message":"m","type":"oops","code":null,"param":null}}`, false}, // unknown type
		{"Error", `{"message":"m"}`, false},
		{"ChatCompletionChunk", `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}`, true},
		{"ChatCompletionChunk", `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{}}]}`, false}, // finish_reason missing
		{"ChatCompletionChunk", `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"done"}]}`, false},
		{"ChatCompletionChunk", `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[]}`, false},
		{"ChatCompletion", `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`, true},
		{"ChatCompletion", `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":null}]}`, false},
		{"ChatMessage", `{"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]}`, true},
		{"ChatMessage", `{"role":"assistant","content":null}`, false},
		{"ChatMessage", `{"role":"user","content":null}`, false},
		{"ChatMessage", `{"role":"user","content":[{"type":"text","text":"hi"}]}`, true},
		{"ChatMessage", `{"role":"tool","content":"4"}`, false}, // tool_call_id missing
		{"ImagesResponse", `{"created":1,"data":[{"b64_json":"aGk="}],"usage":{"images":1,"cost_usd":0.011}}`, true},
		{"ImagesResponse", `{"created":1,"data":[{"revised_prompt":"p"}],"usage":{"images":1}}`, false},
		{"EmbeddingsResponse", `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.6,0.8]},{"object":"embedding","index":1,"embedding":"AACAPw=="}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2,"cost_usd":0}}`, true},
		{"EmbeddingsResponse", `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[]}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}}`, false},
		{"EmbeddingsResponse", `{"object":"list","data":[],"model":"m"}`, false}, // usage missing
		{"EmbeddingRequest", `{"model":"m","input":[[1,2],[3]]}`, true},
		{"EmbeddingRequest", `{"model":"m","input":[1,"a"]}`, false},
		{"AgentRun", `{"id":"r","object":"agent.run","agent_id":"a","model":"m","status":"done","output":"","steps":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2},"created":1}`, false},
	}
	for _, c := range cases {
		ref := doc.Components.Schemas[c.schema]
		if ref == nil {
			t.Fatalf("components.schemas.%s is missing", c.schema)
		}
		var v any
		if err := json.Unmarshal([]byte(c.json), &v); err != nil {
			t.Fatal(err)
		}
		err := ref.Value.VisitJSON(v, openapi3.VisitAsResponse())
		if (err == nil) != c.ok {
			t.Errorf("%s accepts=%v, want %v: %s (%v)", c.schema, err == nil, c.ok, c.json, err)
		}
	}
}

// oasCheckRoutes shows the service serves nothing the document does not list: its route
// templates are the document's paths, every other method on a documented path is a 405 whose
// Allow header names exactly the documented methods, and paths outside the document are 404
// unknown_route.
func oasCheckRoutes(t *testing.T, env *oasEnv) {
	// The gateway pre-creates a per-route series for every route template it registers, so
	// /metrics enumerates the served paths: they must be exactly the document's paths.
	var served []string
	for _, line := range strings.Split(string(oasFetch(t, env.inst["main"].URL+"/metrics")), "\n") {
		rest, ok := strings.CutPrefix(line, `http_requests_in_flight{route="`)
		if !ok {
			continue
		}
		route, _, _ := strings.Cut(rest, `"`)
		if route == "unmatched" {
			continue
		}
		segs := strings.Split(route, "/")
		for i, s := range segs {
			if p, ok := strings.CutPrefix(s, ":"); ok {
				segs[i] = "{" + p + "}"
			}
		}
		served = append(served, strings.Join(segs, "/"))
	}
	sort.Strings(served)
	documented := env.doc.Paths.InMatchingOrder()
	sort.Strings(documented)
	if !slices.Equal(served, documented) {
		t.Errorf("served route templates (from /metrics) %v\ndocumented paths %v", served, documented)
	}

	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodHead}
	paths := env.doc.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, path := range paths {
		item := env.doc.Paths.Value(path)
		var allowed []string
		for m := range item.Operations() {
			allowed = append(allowed, m)
		}
		sort.Strings(allowed)
		concrete := strings.ReplaceAll(path, "{id}", "calculator")
		for _, m := range methods {
			if item.GetOperation(m) != nil {
				continue
			}
			t.Run(m+" "+path, func(t *testing.T) {
				body := ""
				if m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions {
					body = `{}`
				}
				x := env.run(t, oasCase{method: m, path: concrete, body: body, status: http.StatusMethodNotAllowed, code: "method_not_allowed"})
				var got []string
				for _, a := range strings.Split(x.header.Get("Allow"), ",") {
					got = append(got, strings.TrimSpace(a))
				}
				sort.Strings(got)
				if !slices.Equal(got, allowed) {
					t.Errorf("Allow = %v, the document lists %v", got, allowed)
				}
			})
		}
	}
	for _, c := range []oasCase{
		{name: "GET /", method: "GET", path: "/"},
		{name: "GET /v1", method: "GET", path: "/v1"},
		{name: "GET /v1/nope", method: "GET", path: "/v1/nope"},
		{name: "POST /v2/chat", method: "POST", path: "/v2/chat", body: `{}`},
		{name: "GET /v1/agents/calculator/runs/x", method: "GET", path: "/v1/agents/calculator/runs/x"},
		{name: "trailing slash", method: "GET", path: "/v1/models/", knownStatus: http.StatusMovedPermanently,
			knownIssue: "gin's RedirectTrailingSlash answers /v1/models/ with a 301 outside the middleware (no X-Request-Id, not in the document)"},
		{name: "trailing slash POST", method: "POST", path: "/v1/chat/", body: oasHello, knownStatus: http.StatusTemporaryRedirect,
			knownIssue: "gin's RedirectTrailingSlash answers POST /v1/chat/ with a 307 outside the middleware (no X-Request-Id, not in the document)"},
		{name: "GET /openapi.yaml", method: "GET", path: "/openapi.yaml"},
	} {
		c.status, c.code = http.StatusNotFound, "unknown_route"
		t.Run("unknown "+c.name, func(t *testing.T) { env.run(t, c) })
	}
}

const oasHello = `{"messages":[{"role":"user","content":"Say hello to the gateway."}]}`

func oasSuccessCases() []oasCase {
	streamEnds := func(usage bool) func(t *testing.T, x *oasExchange) {
		return func(t *testing.T, x *oasExchange) {
			t.Helper()
			if end := x.events[len(x.events)-1]; end.data != "[DONE]" {
				t.Fatalf("stream did not end with [DONE]: %+v", end)
			}
			chunks := x.chunks(t)
			finished := false
			for _, c := range chunks {
				for _, ch := range c["choices"].([]any) {
					if ch.(map[string]any)["finish_reason"] != nil {
						finished = true
					}
				}
			}
			if !finished {
				t.Error("no chunk carried a finish_reason")
			}
			last := chunks[len(chunks)-1]
			u, hasUsage := last["usage"].(map[string]any)
			if hasUsage != usage {
				t.Fatalf("usage chunk present = %v, want %v", hasUsage, usage)
			}
			if usage {
				if _, ok := u["cost_usd"].(float64); !ok || len(last["choices"].([]any)) != 0 {
					t.Errorf("usage chunk must have choices [] and usage.cost_usd: %v", last)
				}
			}
		}
	}
	return []oasCase{
		{name: "chat", method: "POST", path: "/v1/chat", body: oasHello, status: 200,
			header: map[string]string{"X-Request-Id": "oas-echo-1"},
			check: func(t *testing.T, x *oasExchange) {
				if x.header.Get("X-Cost-USD") == "" {
					t.Error("a priced chat has no X-Cost-USD")
				}
			}},
		{name: "chat with every option", method: "POST", path: "/v1/chat", status: 200, body: `{"model":"gpt-4o","messages":[
			{"role":"system","content":"Be brief."},{"role":"developer","content":"Answer in English."},
			{"role":"user","content":[{"type":"text","text":"What is 2+2?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]},
			{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"calculator","arguments":"{\"expression\":\"2+2\"}"}}]},
			{"role":"tool","tool_call_id":"call_1","content":"4"},
			{"role":"assistant","content":"It is 4."},{"role":"user","content":"Thanks.","name":"sam"}],
			"temperature":0.5,"top_p":1,"n":1,"max_tokens":50,"stop":"\n\n","presence_penalty":0,"frequency_penalty":0,
			"seed":7,"user":"u-1","response_format":{"type":"text"},"stream":false}`},
		{name: "chat tool call has null content", method: "POST", path: "/v1/chat", status: 200,
			body: `{"messages":[{"role":"user","content":"What is 6 * 7?"}],"tool_choice":"auto","parallel_tool_calls":false,"max_completion_tokens":100,"stop":["END"],
				"tools":[{"type":"function","function":{"name":"calculator","description":"math","parameters":{"type":"object","properties":{"expression":{"type":"string"}}}}}]}`,
			check: func(t *testing.T, x *oasExchange) {
				ch := x.obj()["choices"].([]any)[0].(map[string]any)
				msg := ch["message"].(map[string]any)
				if ch["finish_reason"] != "tool_calls" || msg["content"] != nil || msg["tool_calls"] == nil {
					t.Errorf("want a tool call with content null: %s", x.body)
				}
			}},
		{name: "stream", method: "POST", path: "/v1/chat/stream", body: oasHello, status: 200, sse: true, check: streamEnds(true)},
		{name: "stream tool call", method: "POST", path: "/v1/chat/stream", status: 200, sse: true,
			body: `{"messages":[{"role":"user","content":"What time is it now?"}],"tool_choice":{"type":"function","function":{"name":"clock"}},
				"tools":[{"type":"function","function":{"name":"clock"}}],"stream_options":{"include_usage":false}}`,
			check: func(t *testing.T, x *oasExchange) {
				streamEnds(true)(t, x) // /v1/chat/stream always ends with usage
				if !strings.Contains(string(x.body), `"tool_calls":[{"index":0`) {
					t.Errorf("no tool_calls delta: %s", x.body)
				}
			}},
		// OpenAI clients may send null for an unset option; the gateway treats it as absent.
		{name: "chat with null options", method: "POST", path: "/v1/chat", status: 200,
			body: `{"messages":[{"role":"user","content":"x"}],"temperature":null,"top_p":null,"n":null,"max_tokens":null,
				"max_completion_tokens":null,"stop":null,"presence_penalty":null,"frequency_penalty":null,"seed":null,"stream":null,"stream_options":null}`},
		{name: "images with null options", method: "POST", path: "/v1/images", status: 200,
			body: `{"prompt":"x","n":null,"size":null,"quality":null,"response_format":null,"style":null}`},
		{name: "completions json", method: "POST", path: "/v1/chat/completions", body: oasHello, status: 200},
		{name: "completions stream with usage", method: "POST", path: "/v1/chat/completions", status: 200, sse: true,
			body:  `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}`,
			check: streamEnds(true)},
		{name: "completions stream without usage", method: "POST", path: "/v1/chat/completions", status: 200, sse: true,
			body: `{"stream":true,"messages":[{"role":"user","content":"Hi"}]}`, check: streamEnds(false)},
		{name: "images priced", method: "POST", path: "/v1/images", status: 200,
			body: `{"prompt":"a lighthouse","model":"gpt-image-1","n":2,"size":"1024x1024","quality":"low","response_format":"b64_json","user":"u"}`,
			check: func(t *testing.T, x *oasExchange) {
				u := x.obj()["usage"].(map[string]any)
				if u["images"] != 2.0 || u["cost_usd"] == nil || len(x.obj()["data"].([]any)) != 2 {
					t.Errorf("want 2 priced images: usage %v", u)
				}
			}},
		{name: "images generations url", method: "POST", path: "/v1/images/generations", status: 200,
			body: `{"prompt":"a small square","size":"256x256","response_format":"url"}`,
			check: func(t *testing.T, x *oasExchange) {
				d := x.obj()["data"].([]any)[0].(map[string]any)
				if d["url"] == nil || d["b64_json"] != nil {
					t.Errorf("want a url image: %.200s", x.body)
				}
			}},
		{name: "embeddings float", method: "POST", path: "/v1/embeddings", status: 200,
			body: `{"model":"text-embedding-3-small","input":["a cat","a dog"],"dimensions":8,"user":"u","x_vendor":1}`,
			check: func(t *testing.T, x *oasExchange) {
				if len(x.obj()["data"].([]any)) != 2 || x.header.Get("X-Cost-USD") == "" {
					t.Errorf("want 2 priced vectors: %.300s", x.body)
				}
			}},
		{name: "embeddings base64 of tokens", method: "POST", path: "/v1/embeddings", status: 200,
			body: `{"model":"text-embedding-3-large","input":[[1,2],[3]],"encoding_format":"base64"}`},
		{name: "agents", method: "GET", path: "/v1/agents", status: 200},
		{name: "agent", method: "GET", path: "/v1/agents/calculator", status: 200},
		{name: "agent run", method: "POST", path: "/v1/agents/calculator/runs", body: `{"input":"What is (2 + 3) * 4?"}`, status: 200,
			check: func(t *testing.T, x *oasExchange) {
				if x.obj()["status"] != "completed" || len(x.obj()["steps"].([]any)) == 0 {
					t.Errorf("want a completed run with a tool step: %s", x.body)
				}
			}},
		{name: "models", method: "GET", path: "/v1/models", status: 200},
		{name: "healthz", method: "GET", path: "/healthz", status: 200},
		{name: "readyz", method: "GET", path: "/readyz", status: 200},
		{name: "metrics", method: "GET", path: "/metrics", status: 200},
		{name: "openapi", method: "GET", path: "/openapi.json", status: 200},
	}
}

func oasClientErrorCases() []oasCase {
	big := `{"messages":[{"role":"user","content":"` + strings.Repeat("a", 1<<20) + `"}]}` // over the 1 MiB default
	bad := func(name, path, body, code string) oasCase {
		return oasCase{name: name, method: "POST", path: path, body: body, status: 400, code: code, invalid: true}
	}
	cases := []oasCase{
		bad("malformed json", "/v1/chat", `{"messages":[`, "null"),
		bad("empty body", "/v1/chat", "", "null"),
		bad("not an object", "/v1/chat", `[1,2]`, "null"),
		bad("missing messages", "/v1/chat", `{"model":"gpt-4o-mini"}`, "null"),
		bad("empty messages", "/v1/chat", `{"messages":[]}`, "null"),
		bad("messages not an array", "/v1/chat", `{"messages":"hi"}`, "null"),
		bad("unknown role", "/v1/chat", `{"messages":[{"role":"robot","content":"hi"}]}`, "null"),
		bad("null user content", "/v1/chat", `{"messages":[{"role":"user","content":null}]}`, "null"),
		bad("assistant without content or tool calls", "/v1/chat", `{"messages":[{"role":"assistant"},{"role":"user","content":"x"}]}`, "null"),
		bad("missing user content", "/v1/chat", `{"messages":[{"role":"user"}]}`, "null"),
		bad("null assistant content without tool calls", "/v1/chat", `{"messages":[{"role":"assistant","content":null},{"role":"user","content":"x"}]}`, "null"),
		bad("content part without type", "/v1/chat", `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`, "null"),
		bad("tool message without tool_call_id", "/v1/chat", `{"messages":[{"role":"tool","content":"4"}]}`, "null"),
		bad("temperature out of range", "/v1/chat", `{"temperature":3,"messages":[{"role":"user","content":"x"}]}`, "null"),
		bad("temperature not a number", "/v1/chat", `{"temperature":"hot","messages":[{"role":"user","content":"x"}]}`, "null"),
		bad("top_p out of range", "/v1/chat", `{"top_p":1.5,"messages":[{"role":"user","content":"x"}]}`, "null"),
		bad("max_tokens zero", "/v1/chat", `{"max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, "null"),
		bad("n of 129", "/v1/chat", `{"n":129,"messages":[{"role":"user","content":"x"}]}`, "null"),
		bad("five stop sequences", "/v1/chat", `{"stop":["a","b","c","d","e"],"messages":[{"role":"user","content":"x"}]}`, "null"),
		bad("stop not a string", "/v1/chat", `{"stop":7,"messages":[{"role":"user","content":"x"}]}`, "null"),
		bad("tool without name", "/v1/chat", `{"tools":[{"type":"function","function":{}}],"messages":[{"role":"user","content":"x"}]}`, "null"),
		bad("tool of another type", "/v1/chat", `{"tools":[{"type":"retrieval","function":{"name":"f"}}],"messages":[{"role":"user","content":"x"}]}`, "null"),
		bad("stream on /v1/chat", "/v1/chat", `{"stream":true,"messages":[{"role":"user","content":"x"}]}`, "null"),
		bad("stream route missing messages", "/v1/chat/stream", `{}`, "null"),
		bad("completions malformed", "/v1/chat/completions", `{"messages":`, "null"),
		bad("images blank prompt", "/v1/images", `{"prompt":"   "}`, "null"),
		bad("images missing prompt", "/v1/images/generations", `{"n":1}`, "null"),
		bad("images n 11", "/v1/images", `{"prompt":"x","n":11}`, "null"),
		bad("images bad size", "/v1/images", `{"prompt":"x","size":"100x100"}`, "null"),
		bad("images bad quality", "/v1/images/generations", `{"prompt":"x","quality":"ultra"}`, "null"),
		bad("images bad response_format", "/v1/images", `{"prompt":"x","response_format":"png"}`, "null"),
		bad("embeddings missing model", "/v1/embeddings", `{"input":"x"}`, "null"),
		bad("embeddings missing input", "/v1/embeddings", `{"model":"text-embedding-3-small"}`, "null"),
		bad("embeddings empty input", "/v1/embeddings", `{"model":"text-embedding-3-small","input":[]}`, "null"),
		bad("embeddings mixed input", "/v1/embeddings", `{"model":"text-embedding-3-small","input":["a",[1]]}`, "null"),
		bad("embeddings bad encoding", "/v1/embeddings", `{"model":"text-embedding-3-small","input":"a","encoding_format":"hex"}`, "null"),
		bad("embeddings zero dimensions", "/v1/embeddings", `{"model":"text-embedding-3-small","input":"a","dimensions":0}`, "null"),
		// Valid by the document, refused by OpenAI's token limit.
		{name: "embeddings input over 8192 tokens", method: "POST", path: "/v1/embeddings", status: 400, code: "null",
			body: `{"model":"text-embedding-3-small","input":"` + strings.Repeat("word ", 8000) + `"}`},
		{name: "embeddings with a chat model", method: "POST", path: "/v1/embeddings", body: `{"model":"gpt-4o-mini","input":"x"}`, status: 400, code: "model_not_supported"},
		{name: "unknown model embeddings", method: "POST", path: "/v1/embeddings", body: `{"model":"text-embedding-9","input":"x"}`, status: 404, code: "model_not_found"},
		{name: "oversized embeddings body", method: "POST", path: "/v1/embeddings", body: `{"model":"m","input":"` + strings.Repeat("p", 1<<20) + `"}`, chunked: true, status: 413, code: "request_too_large"},
		{name: "text/plain embeddings", method: "POST", path: "/v1/embeddings", body: `{"model":"m","input":"x"}`, ctype: "text/plain", status: 415, code: "unsupported_media_type", invalid: true},
		bad("run missing input", "/v1/agents/calculator/runs", `{}`, "null"),
		bad("run blank input", "/v1/agents/assistant/runs", `{"input":"  "}`, "null"),
		bad("run malformed", "/v1/agents/calculator/runs", `{"input":`, "null"),
		// Valid calls by the document that name a model of the wrong kind.
		{name: "images with a chat model", method: "POST", path: "/v1/images", body: `{"prompt":"x","model":"gpt-4o-mini"}`, status: 400, code: "model_not_supported"},
		{name: "chat with an image model", method: "POST", path: "/v1/chat", body: `{"model":"gpt-image-1","messages":[{"role":"user","content":"x"}]}`, status: 400, code: "model_not_supported"},

		{name: "unknown model chat", method: "POST", path: "/v1/chat", body: `{"model":"gpt-nope","messages":[{"role":"user","content":"x"}]}`, status: 404, code: "model_not_found"},
		{name: "unknown model stream", method: "POST", path: "/v1/chat/stream", body: `{"model":"gpt-nope","messages":[{"role":"user","content":"x"}]}`, status: 404, code: "model_not_found"},
		{name: "unknown model completions stream", method: "POST", path: "/v1/chat/completions", body: `{"model":"gpt-nope","stream":true,"messages":[{"role":"user","content":"x"}]}`, status: 404, code: "model_not_found"},
		{name: "unknown model images", method: "POST", path: "/v1/images", body: `{"prompt":"x","model":"dall-e-9"}`, status: 404, code: "model_not_found"},
		{name: "unknown model generations", method: "POST", path: "/v1/images/generations", body: `{"prompt":"x","model":"dall-e-9"}`, status: 404, code: "model_not_found"},
		{name: "unknown agent", method: "GET", path: "/v1/agents/nobody", status: 404, code: "agent_not_found"},
		{name: "unknown agent run", method: "POST", path: "/v1/agents/nobody/runs", body: `{"input":"x"}`, status: 404, code: "agent_not_found"},

		{name: "oversized declared body", method: "POST", path: "/v1/chat", body: big, status: 413, code: "request_too_large"},
		{name: "oversized chunked body", method: "POST", path: "/v1/chat/completions", body: big, chunked: true, status: 413, code: "request_too_large"},
		{name: "oversized images body", method: "POST", path: "/v1/images", body: `{"prompt":"` + strings.Repeat("p", 1<<20) + `"}`, status: 413, code: "request_too_large", invalid: true},
		{name: "oversized generations body", method: "POST", path: "/v1/images/generations", body: `{"prompt":"` + strings.Repeat("p", 1<<20) + `"}`, chunked: true, status: 413, code: "request_too_large", invalid: true},
		{name: "oversized stream body", method: "POST", path: "/v1/chat/stream", body: big, status: 413, code: "request_too_large"},
		{name: "oversized run body", method: "POST", path: "/v1/agents/calculator/runs", body: `{"input":"` + strings.Repeat("p", 1<<20) + `"}`, status: 413, code: "request_too_large", invalid: true},

		{name: "text/plain chat", method: "POST", path: "/v1/chat", body: oasHello, ctype: "text/plain", status: 415, code: "unsupported_media_type", invalid: true},
		{name: "form stream", method: "POST", path: "/v1/chat/stream", body: "a=b", ctype: "application/x-www-form-urlencoded", status: 415, code: "unsupported_media_type", invalid: true},
		{name: "text/plain completions", method: "POST", path: "/v1/chat/completions", body: oasHello, ctype: "text/plain; charset=utf-8", status: 415, code: "unsupported_media_type", invalid: true},
		{name: "octet-stream generations", method: "POST", path: "/v1/images/generations", body: `{"prompt":"x"}`, ctype: "application/octet-stream", status: 415, code: "unsupported_media_type", invalid: true},
		{name: "text/plain images", method: "POST", path: "/v1/images", body: `{"prompt":"x"}`, ctype: "text/plain", status: 415, code: "unsupported_media_type", invalid: true},
		{name: "xml run", method: "POST", path: "/v1/agents/calculator/runs", body: `<input/>`, ctype: "application/xml", status: 415, code: "unsupported_media_type", invalid: true},
	}
	return cases
}

func oasAuthCases() []oasCase {
	bearer := map[string]string{"Authorization": "Bearer " + oasKey}
	limited := map[string]string{"Authorization": "Bearer " + oasLimitedKey}
	return []oasCase{
		{name: "chat with a model the key may not use", inst: "keyed", method: "POST", path: "/v1/chat", body: oasHello, status: 403, code: "model_not_allowed", header: limited},
		{name: "stream with a model the key may not use", inst: "keyed", method: "POST", path: "/v1/chat/stream", body: oasHello, status: 403, code: "model_not_allowed", header: limited},
		{name: "completions with a model the key may not use", inst: "keyed", method: "POST", path: "/v1/chat/completions", body: oasHello, status: 403, code: "model_not_allowed", header: limited},
		{name: "images with a model the key may not use", inst: "keyed", method: "POST", path: "/v1/images", body: `{"prompt":"x"}`, status: 403, code: "model_not_allowed", header: limited},
		{name: "generations with a model the key may not use", inst: "keyed", method: "POST", path: "/v1/images/generations", body: `{"prompt":"x"}`, status: 403, code: "model_not_allowed", header: limited},
		{name: "embeddings with a model the key may not use", inst: "keyed", method: "POST", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small","input":"x"}`, status: 403, code: "model_not_allowed", header: limited},
		{name: "run with a model the key may not use", inst: "keyed", method: "POST", path: "/v1/agents/calculator/runs", body: `{"input":"1+1"}`, status: 403, code: "model_not_allowed", header: limited},
		{name: "models without key", inst: "keyed", method: "GET", path: "/v1/models", status: 401, code: "invalid_api_key"},
		{name: "chat with wrong key", inst: "keyed", method: "POST", path: "/v1/chat", body: oasHello, status: 401, code: "invalid_api_key",
			header: map[string]string{"Authorization": "Bearer sk-wrong"}},
		{name: "unknown agent without key", inst: "keyed", method: "GET", path: "/v1/agents/nobody", status: 401, code: "invalid_api_key"},
		{name: "run without key", inst: "keyed", method: "POST", path: "/v1/agents/calculator/runs", body: `{"input":"1+1"}`, status: 401, code: "invalid_api_key",
			header: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}},
		{name: "agents without key", inst: "keyed", method: "GET", path: "/v1/agents", status: 401, code: "invalid_api_key"},
		{name: "stream without key", inst: "keyed", method: "POST", path: "/v1/chat/stream", body: oasHello, status: 401, code: "invalid_api_key"},
		{name: "completions without key", inst: "keyed", method: "POST", path: "/v1/chat/completions", body: oasHello, status: 401, code: "invalid_api_key"},
		{name: "images without key", inst: "keyed", method: "POST", path: "/v1/images", body: `{"prompt":"x"}`, status: 401, code: "invalid_api_key"},
		{name: "generations without key", inst: "keyed", method: "POST", path: "/v1/images/generations", body: `{"prompt":"x"}`, status: 401, code: "invalid_api_key"},
		{name: "embeddings without key", inst: "keyed", method: "POST", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small","input":"x"}`, status: 401, code: "invalid_api_key"},
		{name: "models with key", inst: "keyed", method: "GET", path: "/v1/models", status: 200, header: bearer},
		{name: "chat with key", inst: "keyed", method: "POST", path: "/v1/chat", body: oasHello, status: 200, header: bearer},
		{name: "healthz needs no key", inst: "keyed", method: "GET", path: "/healthz", status: 200},
		{name: "metrics needs no key", inst: "keyed", method: "GET", path: "/metrics", status: 200},
	}
}

func oasFaultCases(env *oasEnv) []oasCase {
	fail := func(status int, retryAfter string) func(t *testing.T) func(t *testing.T) {
		return env.setSim(launch.SimBehaviour{FailNext: 1, ErrorStatus: status, RetryAfter: retryAfter})
	}
	retryAfter := func(want string) func(t *testing.T, x *oasExchange) {
		return func(t *testing.T, x *oasExchange) {
			if got := x.header.Get("Retry-After"); got != want {
				t.Errorf("Retry-After = %q, want %q", got, want)
			}
		}
	}
	streamError := func(typ string) func(t *testing.T, x *oasExchange) {
		return func(t *testing.T, x *oasExchange) {
			end := x.events[len(x.events)-1]
			if end.name != "error" {
				t.Fatalf("the stream did not end with an error event: %+v", end)
			}
			if got := oasErrType(t, end.data); got != typ {
				t.Errorf("error event type %q, want %q", got, typ)
			}
		}
	}
	chat := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Tell me something."}]}`
	stream := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Tell me something."}]}`
	return []oasCase{
		{name: "chat without upstream usage", inst: "fault", method: "POST", path: "/v1/chat", body: chat, status: 200,
			before: env.setSim(launch.SimBehaviour{OmitUsage: true}),
			check: func(t *testing.T, x *oasExchange) {
				// Today the usage is left out; if the gateway fills it in, it must say it guessed.
				if u, ok := x.obj()["usage"].(map[string]any); ok && u["estimated"] != true {
					t.Errorf("usage without upstream usage is not marked estimated: %v", u)
				}
			}},
		{name: "stream with estimated usage", inst: "fault", method: "POST", path: "/v1/chat/stream", body: chat, status: 200, sse: true,
			before: env.setSim(launch.SimBehaviour{OmitUsage: true}),
			check: func(t *testing.T, x *oasExchange) {
				chunks := x.chunks(t)
				u, _ := chunks[len(chunks)-1]["usage"].(map[string]any)
				if u["estimated"] != true {
					t.Errorf("want an estimated usage chunk, got %v", chunks[len(chunks)-1])
				}
			}},
		{name: "upstream 500 is 502", inst: "fault", method: "POST", path: "/v1/chat", body: chat, status: 502, code: "null", before: fail(500, "")},
		{name: "upstream unreachable is 502", inst: "fault", method: "POST", path: "/v1/images", body: `{"prompt":"x"}`, status: 502, code: "null",
			before: env.setSim(launch.SimBehaviour{FailNext: 1, DropConnection: true})},
		{name: "upstream credentials rejected is 502", inst: "fault", method: "POST", path: "/v1/images/generations", body: `{"prompt":"x"}`, status: 502, code: "null", before: fail(401, "")},
		{name: "stream upstream 500 before first byte", inst: "fault", method: "POST", path: "/v1/chat/stream", body: chat, status: 502, before: fail(500, "")},
		{name: "completions stream upstream 502", inst: "fault", method: "POST", path: "/v1/chat/completions", body: stream, status: 502, before: fail(502, "")},
		{name: "agent run upstream 500", inst: "fault", method: "POST", path: "/v1/agents/calculator/runs", body: `{"input":"What is 1 + 1?"}`, status: 502, before: fail(500, "")},
		{name: "upstream 503", inst: "fault", method: "POST", path: "/v1/chat/completions", body: chat, status: 503, code: "null",
			before: fail(503, "2s"), check: retryAfter("2")},
		{name: "completions stream upstream 503", inst: "fault", method: "POST", path: "/v1/chat/completions", body: stream, status: 503, before: fail(503, "")},
		{name: "stream upstream 503", inst: "fault", method: "POST", path: "/v1/chat/stream", body: chat, status: 503, before: fail(503, "1s"), check: retryAfter("1")},
		{name: "images upstream 503", inst: "fault", method: "POST", path: "/v1/images", body: `{"prompt":"x"}`, status: 503, before: fail(503, "")},
		{name: "generations upstream 503", inst: "fault", method: "POST", path: "/v1/images/generations", body: `{"prompt":"x"}`, status: 503, before: fail(503, "")},
		{name: "agent run upstream 503", inst: "fault", method: "POST", path: "/v1/agents/assistant/runs", body: `{"input":"hello"}`, status: 503, before: fail(503, "")},
		{name: "upstream 429", inst: "fault", method: "POST", path: "/v1/images/generations", body: `{"prompt":"x"}`, status: 429, code: "upstream_rate_limited",
			before: fail(429, "3s"), check: retryAfter("3")},
		{name: "stream upstream 429", inst: "fault", method: "POST", path: "/v1/chat/stream", body: chat, status: 429, code: "upstream_rate_limited", before: fail(429, "")},
		{name: "completions upstream 429", inst: "fault", method: "POST", path: "/v1/chat/completions", body: chat, status: 429, before: fail(429, "")},
		{name: "images upstream 429", inst: "fault", method: "POST", path: "/v1/images", body: `{"prompt":"x"}`, status: 429, before: fail(429, "")},
		{name: "agent run upstream 429", inst: "fault", method: "POST", path: "/v1/agents/calculator/runs", body: `{"input":"2*3"}`, status: 429, before: fail(429, "")},
		{name: "in-flight cap", inst: "fault", method: "POST", path: "/v1/chat", body: chat, status: 429, code: "overloaded",
			before: oasHoldSlot(env), check: retryAfter("1")},
		{name: "upstream 400", inst: "fault", method: "POST", path: "/v1/chat", body: chat, status: 400, before: fail(400, "")},
		{name: "upstream 404", inst: "fault", method: "POST", path: "/v1/chat/completions", body: chat, status: 404, before: fail(404, "")},
		{name: "upstream 413", inst: "fault", method: "POST", path: "/v1/chat/stream", body: chat, status: 413, before: fail(413, "")},
		{name: "route deadline", inst: "fault", method: "POST", path: "/v1/chat", body: chat, status: 504, code: "null",
			before: env.setSim(launch.SimBehaviour{Latency: "2s"}),
			check: func(t *testing.T, x *oasExchange) {
				// The deadline is 1s: the answer must not wait for the 2s upstream.
				if !strings.Contains(string(x.body), "deadline") {
					t.Errorf("want the deadline message: %s", x.body)
				}
			}},
		{name: "completions deadline", inst: "fault", method: "POST", path: "/v1/chat/completions", body: chat, status: 504,
			before: env.setSim(launch.SimBehaviour{Latency: "2s"})},
		{name: "stream upstream 504", inst: "fault", method: "POST", path: "/v1/chat/stream", body: chat, status: 504, before: fail(504, "")},
		{name: "completions stream upstream 504", inst: "fault", method: "POST", path: "/v1/chat/completions", body: stream, status: 504, before: fail(504, "")},
		{name: "images upstream 504", inst: "fault", method: "POST", path: "/v1/images", body: `{"prompt":"x"}`, status: 504, before: fail(504, "")},
		{name: "generations deadline", inst: "fault", method: "POST", path: "/v1/images/generations", body: `{"prompt":"x"}`, status: 504,
			before: env.setSim(launch.SimBehaviour{Latency: "2s"})},
		{name: "agent run deadline", inst: "fault", method: "POST", path: "/v1/agents/calculator/runs", body: `{"input":"What is 9 - 3?"}`, status: 504,
			before: env.setSim(launch.SimBehaviour{Latency: "2s"})},
		{name: "embeddings upstream 500", inst: "fault", method: "POST", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small","input":"x"}`, status: 502, before: fail(500, "")},
		{name: "embeddings upstream 503", inst: "fault", method: "POST", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small","input":"x"}`, status: 503, before: fail(503, "1s"), check: retryAfter("1")},
		{name: "embeddings upstream 429", inst: "fault", method: "POST", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small","input":"x"}`, status: 429, before: fail(429, "")},
		{name: "embeddings deadline", inst: "fault", method: "POST", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small","input":"x"}`, status: 504,
			before: env.setSim(launch.SimBehaviour{Latency: "2s"})},
		{name: "stream cut mid-way", inst: "fault", method: "POST", path: "/v1/chat/stream", body: chat, status: 200, sse: true,
			before: env.setSim(launch.SimBehaviour{CutStreamAfter: 2}), check: streamError("upstream_error")},
		// The stream starts only with the first chunk, so a first-token timeout is a JSON 504.
		{name: "stream first-token limit", inst: "fault", method: "POST", path: "/v1/chat/completions", body: stream, status: 504, code: "first_token_timeout",
			before: env.setSim(launch.SimBehaviour{TimeToFirstToken: "1s"})},
		{name: "stream route first-token limit", inst: "fault", method: "POST", path: "/v1/chat/stream", body: chat, status: 504, code: "first_token_timeout",
			before: env.setSim(launch.SimBehaviour{TimeToFirstToken: "1s"})},
		{name: "stream idle limit", inst: "fault", method: "POST", path: "/v1/chat/stream", body: chat, status: 200, sse: true,
			before: env.setSim(launch.SimBehaviour{InterTokenDelay: "1s", Chunks: 3}), check: streamError("timeout")},
	}
}

// oasHoldSlot occupies the fault instance's single upstream slot with a slow request, so the
// case's own request is shed; the returned hook waits for the slow request to succeed.
func oasHoldSlot(env *oasEnv) func(t *testing.T) func(t *testing.T) {
	return func(t *testing.T) func(t *testing.T) {
		restore := env.setSim(launch.SimBehaviour{Latency: "500ms"})(t)
		var wg sync.WaitGroup
		var status int
		var err error
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, e := env.hc.Post(env.inst["fault"].URL+"/v1/chat", "application/json", strings.NewReader(oasHello))
			if e != nil {
				err = e
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}()
		held := oasPoll(3*time.Second, func() bool {
			st, e := env.sim.Stats(context.Background())
			return e == nil && st.InFlight >= 1
		})
		if !held {
			t.Fatal("the slow request never reached the simulator")
		}
		return func(t *testing.T) {
			wg.Wait()
			if err != nil || status != http.StatusOK {
				t.Errorf("the request holding the slot: %d %v", status, err)
			}
			restore(t)
		}
	}
}

func oasCircuitCases(env *oasEnv) []oasCase {
	chat := `{"messages":[{"role":"user","content":"Are you there?"}]}`
	return []oasCase{
		{name: "failure opens the breaker", inst: "circuit", method: "POST", path: "/v1/chat", body: chat, status: 502,
			before: env.setSim(launch.SimBehaviour{FailNext: 1, ErrorStatus: 500})},
		{name: "open breaker", inst: "circuit", method: "POST", path: "/v1/chat", body: chat, status: 503, code: "circuit_open",
			check: func(t *testing.T, x *oasExchange) {
				if n, err := strconv.Atoi(x.header.Get("Retry-After")); err != nil || n < 1 || n > 60 {
					t.Errorf("Retry-After = %q, want the cooldown left (1-60s)", x.header.Get("Retry-After"))
				}
			}},
	}
}

// oasCheckDraining: on SIGTERM the instance keeps serving through the pre-drain delay while
// /readyz answers the documented 503.
func oasCheckDraining(t *testing.T, env *oasEnv, p *launch.Process) {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var got int
	ok := oasPoll(2*time.Second, func() bool {
		resp, err := env.hc.Get(p.URL + "/readyz")
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got = resp.StatusCode
		return got == http.StatusServiceUnavailable
	})
	if !ok {
		t.Fatalf("/readyz did not turn 503 after SIGTERM (last %d)", got)
	}
	env.run(t, oasCase{inst: "circuit", method: "GET", path: "/readyz", status: 503,
		check: func(t *testing.T, x *oasExchange) {
			if x.obj()["status"] != "draining" {
				t.Errorf("status %v, want draining", x.obj()["status"])
			}
		}})
}
