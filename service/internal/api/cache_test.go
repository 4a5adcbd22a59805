package api_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"aiservice/service/internal/sim"
)

// TestResponseCache: a repeated request is a HIT with the same answer at $0 and the saving
// counted; Cache-Control and the policy decide what is looked up and stored; streams replay.
func TestResponseCache(t *testing.T) {
	f := newFixture(t, fmt.Sprintf(`
cache: {default: shared}
keys:
  - {name: own, hash: %q, cache: key}
  - {name: other, hash: %q, cache: key}
  - {name: nocache, hash: %q, cache: "off"}
`, keyHash("sk-own"), keyHash("sk-other"), keyHash("sk-nocache")))
	chat := func(body string, headers ...string) result {
		return f.do("POST", "/v1/chat", "application/json", body, append([]string{"Authorization", "Bearer sk-own"}, headers...)...)
	}
	const q = `{"messages":[{"role":"user","content":"What is a cache?"}]}`
	first := chat(q)
	again := chat(`{ "messages": [ {"content":"What is a cache?", "role":"user"} ], "user": "someone" }`) // same request, other spelling
	if first.header.Get("X-Cache") != "MISS" || again.header.Get("X-Cache") != "HIT" {
		t.Fatalf("X-Cache %q then %q", first.header.Get("X-Cache"), again.header.Get("X-Cache"))
	}
	if again.header.Get("X-Cost-USD") != "0" || !strings.Contains(string(again.body), `"cost_usd":0`) {
		t.Fatalf("a hit must cost $0: %s %s", again.header.Get("X-Cost-USD"), again.body)
	}
	if strings.Replace(string(again.body), `"cost_usd":0`, "", 1) != strings.Replace(string(first.body), `"cost_usd":`+first.header.Get("X-Cost-USD"), "", 1) {
		t.Fatalf("a hit must be the same answer:\n%s\n%s", first.body, again.body)
	}
	if got := f.app.Sim.Stats().Requests; got != 1 {
		t.Fatalf("the upstream got %d requests for one answer", got)
	}
	if f.metric("cost_saved_usd_total") <= 0 || f.metric(`cache_hits_total{kind="chat"}`) != 1 {
		t.Fatal("the saving is not counted")
	}
	for _, tc := range []struct {
		name, body, key, cacheControl, want string
	}{
		{"another key has its own entries", q, "sk-other", "", "MISS"},
		{"no-cache skips the lookup", q, "sk-own", "no-cache", "MISS"},
		{"a key with the cache off", q, "sk-nocache", "", ""},
		{"temperature above zero is not cached", `{"temperature":0.7,"messages":[{"role":"user","content":"What is a cache?"}]}`, "sk-own", "", ""},
		{"no-store skips the write", `{"messages":[{"role":"user","content":"Not stored"}]}`, "sk-own", "no-store", "MISS"},
		{"no-cache and no-store: still a cacheable request", `{"messages":[{"role":"user","content":"Not stored"}]}`, "sk-own", "no-cache, no-store", "MISS"},
		{"so the next one misses", `{"messages":[{"role":"user","content":"Not stored"}]}`, "sk-own", "", "MISS"},
		{"embeddings are cached", `{"model":"text-embedding-3-small","input":"cache me"}`, "sk-own", "", "MISS"},
		{"the same embeddings hit", `{"model":"text-embedding-3-small","input":"cache me"}`, "sk-own", "", "HIT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v1/chat"
			if strings.Contains(tc.body, "embedding") {
				path = "/v1/embeddings"
			}
			r := f.do("POST", path, "application/json", tc.body, "Authorization", "Bearer "+tc.key, "Cache-Control", tc.cacheControl)
			if r.status != 200 || r.header.Get("X-Cache") != tc.want {
				t.Fatalf("%d X-Cache %q, want %q: %s", r.status, r.header.Get("X-Cache"), tc.want, r.body)
			}
		})
	}
}

// TestCachedStreamReplays: a cached stream is replayed with the same events; a cut stream is
// never stored.
func TestCachedStreamReplays(t *testing.T) {
	f := newFixture(t, `cache: {default: shared}`)
	const q = `{"messages":[{"role":"user","content":"Stream a cached answer"}]}`
	first := f.post("/v1/chat/stream", q)
	again := f.post("/v1/chat/stream", q)
	if first.header.Get("X-Cache") != "MISS" || again.header.Get("X-Cache") != "HIT" {
		t.Fatalf("X-Cache %q then %q", first.header.Get("X-Cache"), again.header.Get("X-Cache"))
	}
	a, b := events(first.body), events(again.body)
	if len(a) != len(b) || len(a) < 3 {
		t.Fatalf("%d events, then %d replayed", len(a), len(b))
	}
	for i := range a {
		if a[i][0] != b[i][0] || (a[i][1] != b[i][1] && !strings.Contains(b[i][1], `"cost_usd":0`)) {
			t.Fatalf("event %d differs:\n%v\n%v", i, a[i], b[i])
		}
	}
	f.behave(sim.Behaviour{CutStreamAfter: 2})
	const cut = `{"messages":[{"role":"user","content":"This stream is cut"}]}`
	f.post("/v1/chat/stream", cut)
	f.behave(sim.Behaviour{})
	if r := f.post("/v1/chat/stream", cut); r.header.Get("X-Cache") != "MISS" {
		t.Fatalf("a cut stream was cached: X-Cache %q", r.header.Get("X-Cache"))
	}
}

// TestCacheSingleFlight: concurrent identical misses make one upstream call (the first stores
// its answer before the others get it, so those that come later find it).
func TestCacheSingleFlight(t *testing.T) {
	f := newFixture(t, `cache: {default: shared}`)
	f.behave(sim.Behaviour{Latency: sim.Duration(300 * time.Millisecond)})
	const q = `{"messages":[{"role":"user","content":"Everyone asks this at once"}]}`
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Add(1)
		go func() { defer wg.Done(); statuses[i] = f.post("/v1/chat", q).status }()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("request %d: %d", i, s)
		}
	}
	if got := f.app.Sim.Stats().Requests; got != 1 {
		t.Fatalf("%d concurrent identical misses made %d upstream requests", len(statuses), got)
	}
}

// surfacesYAML serves every cacheable surface from the one simulator: chat (translated for the
// Responses of gpt-4o-mini), Responses passed through (gpt-4o-r), Anthropic's Messages.
const surfacesYAML = `
cache: {default: shared}
providers:
  - {name: sim, type: sim}
  - {name: simr, type: sim, api: responses}
  - {name: sim-anthropic, type: sim, dialect: anthropic}
models:
  - {name: gpt-4o-mini, provider: sim}
  - {name: gpt-4o-r, provider: simr, upstream_model: gpt-4o-mini}
  - {name: claude-sonnet-4-5, provider: sim-anthropic}
prices:
  gpt-4o-r: {input_per_1m: 0.15, output_per_1m: 0.60}
`

// surface is one cacheable request of a surface.
type surface struct {
	name, path, body string
	stream, named    bool // named: Messages and Responses end without [DONE]
	responses        bool // the answer is a Responses object, retrievable
	fresh            bool // a hit has a fresh id: the gateway's (the upstream's stays as is)
}

var surfaces = []surface{
	{name: "chat stream", path: "/v1/chat/completions", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Q"}]}`, stream: true},
	{name: "messages", path: "/v1/messages", body: `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Q"}]}`},
	{name: "messages translated", path: "/v1/messages", body: `{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"Q"}]}`},
	{name: "messages stream", path: "/v1/messages", body: `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Q"}]}`, stream: true, named: true},
	{name: "messages stream translated", path: "/v1/messages", body: `{"model":"gpt-4o-mini","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Q"}]}`, stream: true, named: true},
	{name: "responses", path: "/v1/responses", body: `{"model":"gpt-4o-mini","input":"Q"}`, responses: true, fresh: true},
	{name: "responses passed through", path: "/v1/responses", body: `{"model":"gpt-4o-r","input":"Q"}`, responses: true},
	{name: "responses stream", path: "/v1/responses", body: `{"model":"gpt-4o-mini","stream":true,"input":"Q"}`, stream: true, named: true, responses: true, fresh: true},
	{name: "responses stream passed through", path: "/v1/responses", body: `{"model":"gpt-4o-r","stream":true,"input":"Q"}`, stream: true, named: true, responses: true},
}

// asked is a surface's request with a question of its own, so each test has its own entries.
func (sf surface) asked(q string) string { return strings.Replace(sf.body, `"Q"`, strconv.Quote(q), 1) }

var costUSD = regexp.MustCompile(`"cost_usd":[-+0-9.eE]+`)

// same is whether a hit replays a miss: the same bytes (the same events, for a stream) but for
// the cost (0 on the hit) and, for a Responses object the gateway made, its id (fresh on the
// hit, in the response and in its items' ids).
func same(sf surface, miss, hit []byte) bool {
	m, h := string(miss), string(hit)
	if sf.stream {
		m, h = flat(miss), flat(hit)
	}
	m = costUSD.ReplaceAllString(m, `"cost_usd":0`)
	if sf.fresh {
		mid, hid := responseID(miss), responseID(hit)
		if mid == "" || hid == "" || mid == hid {
			return false
		}
		m = strings.ReplaceAll(m, strings.TrimPrefix(mid, "resp_"), strings.TrimPrefix(hid, "resp_"))
	}
	return m == h
}

// flat is a stream's events, one "name data" line each.
func flat(body []byte) string {
	var b strings.Builder
	for _, ev := range events(body) {
		b.WriteString(ev[0] + " " + ev[1] + "\n")
	}
	return b.String()
}

// responseID is the id of a Responses object, or of the first event of a stream that carries it.
func responseID(body []byte) string {
	if id := gjson.GetBytes(body, "id").String(); id != "" {
		return id
	}
	for _, ev := range events(body) {
		if id := gjson.Get(ev[1], "response.id").String(); id != "" {
			return id
		}
	}
	return ""
}

// TestCacheSurfaces: on every surface a repeated request is a HIT at $0 with the same answer
// (the same events, for streams), the upstream is not asked again, and the saving is counted by
// kind; Cache-Control's no-cache and no-store are honoured; a replayed Responses object is stored under its id (a fresh one where the gateway
// makes the ids).
func TestCacheSurfaces(t *testing.T) {
	f := newFixture(t, surfacesYAML)
	for _, sf := range surfaces {
		t.Run(sf.name, func(t *testing.T) {
			body := sf.asked("Cache " + sf.name)
			miss := f.post(sf.path, body)
			before := f.app.Sim.Stats().Requests
			hit := f.post(sf.path, body)
			if miss.status != 200 || hit.status != 200 || miss.header.Get("X-Cache") != "MISS" || hit.header.Get("X-Cache") != "HIT" {
				t.Fatalf("%d %q then %d %q: %s", miss.status, miss.header.Get("X-Cache"), hit.status, hit.header.Get("X-Cache"), hit.body)
			}
			if hit.header.Get("X-Cost-USD") != "0" || f.app.Sim.Stats().Requests != before {
				t.Fatalf("a hit must cost $0 and not reach the upstream: X-Cost-USD %q", hit.header.Get("X-Cost-USD"))
			}
			if !same(sf, miss.body, hit.body) {
				t.Fatalf("a hit must be the same answer:\n%s\n%s", miss.body, hit.body)
			}
			if n := len(events(hit.body)); sf.stream && n < 3 {
				t.Fatalf("%d events replayed", n)
			}
			if done := strings.Contains(string(hit.body), "[DONE]"); sf.stream && done == sf.named {
				t.Fatalf("[DONE] sent %v on a surface that names its events %v", done, sf.named)
			}
			for _, cc := range []struct{ header, body string }{
				{"no-cache", body}, // skips the lookup
				{"no-store", sf.asked("Not stored " + sf.name)}, // skips the write: the next one misses too
				{"", sf.asked("Not stored " + sf.name)},
			} {
				before := f.app.Sim.Stats().Requests
				if r := f.post(sf.path, cc.body, "Cache-Control", cc.header); r.status != 200 || r.header.Get("X-Cache") != "MISS" || f.app.Sim.Stats().Requests != before+1 {
					t.Fatalf("Cache-Control %q: %d X-Cache %q", cc.header, r.status, r.header.Get("X-Cache"))
				}
			}
			if sf.responses {
				id := responseID(hit.body)
				if got := f.do("GET", "/v1/responses/"+id, "", ""); got.status != 200 || gjson.GetBytes(got.body, "id").String() != id {
					t.Fatalf("the replayed response %s is not stored: %d %s", id, got.status, got.body)
				}
			}
		})
	}
	for _, kind := range []string{"messages", "messages_stream", "responses", "responses_stream", "stream"} {
		if f.metric(`cache_hits_total{kind="`+kind+`"}`) < 1 {
			t.Errorf("no hit counted for %s", kind)
		}
	}
	if f.metric("cost_saved_usd_total") <= 0 {
		t.Error("the saving is not counted")
	}
}

// TestStreamSingleFlight: on every streaming surface, concurrent identical misses make one
// upstream call — the others replay the leader's recording, event for event — and when the
// leader's stream is cut, each makes its own call and nothing is stored.
func TestStreamSingleFlight(t *testing.T) {
	f := newFixture(t, surfacesYAML)
	const n = 8
	for _, sf := range surfaces {
		if !sf.stream {
			continue
		}
		for _, tc := range []struct {
			name  string
			b     sim.Behaviour
			calls int64
		}{
			{"one call", sim.Behaviour{Latency: sim.Duration(300 * time.Millisecond)}, 1},
			{"a cut leader", sim.Behaviour{Latency: sim.Duration(50 * time.Millisecond), CutStreamAfter: 2}, n},
		} {
			t.Run(sf.name+"/"+tc.name, func(t *testing.T) {
				f.behave(tc.b)
				defer f.behave(sim.Behaviour{})
				body := sf.asked("Everyone streams this at once: " + sf.name + tc.name)
				before := f.app.Sim.Stats().Requests
				out := make([]result, n)
				var wg sync.WaitGroup
				for i := range out {
					wg.Go(func() { out[i] = f.post(sf.path, body) })
				}
				wg.Wait()
				if got := f.app.Sim.Stats().Requests - before; got != tc.calls {
					t.Fatalf("%d concurrent identical streams made %d upstream calls, want %d", n, got, tc.calls)
				}
				var misses int64
				var led []byte // a leader's stream, which the hits replay
				for i, r := range out {
					if r.status != 200 {
						t.Fatalf("request %d: %d %s", i, r.status, r.body)
					}
					if r.header.Get("X-Cache") == "MISS" {
						misses++
						led = r.body
					}
				}
				for i, r := range out {
					if r.header.Get("X-Cache") == "HIT" && !same(sf, led, r.body) {
						t.Fatalf("request %d replayed another stream:\n%s\n%s", i, led, r.body)
					}
				}
				if misses != tc.calls {
					t.Fatalf("%d misses for %d upstream calls", misses, tc.calls)
				}
				f.behave(sim.Behaviour{})
				if r := f.post(sf.path, body); (r.header.Get("X-Cache") == "HIT") != (tc.calls == 1) {
					t.Fatalf("after the flight: X-Cache %q", r.header.Get("X-Cache"))
				}
			})
		}
	}
}

// TestCachedResponsesConversation: a replayed Responses object is a response of its own — a
// fresh id, stored when `store` asks (and continuable), not when it does not — and a request
// that continues a conversation hits only while that conversation is there.
func TestCachedResponsesConversation(t *testing.T) {
	f := newFixture(t, surfacesYAML)
	create := func(body string) result { return f.post("/v1/responses", `{"model":"gpt-4o-mini",`+body+`}`) }
	start := decodeResponse(t, create(`"input":"Start a conversation"`))
	next := `"input":"Go on","previous_response_id":"` + start.ID + `"`
	miss, hit := create(next), create(next)
	if miss.header.Get("X-Cache") != "MISS" || hit.header.Get("X-Cache") != "HIT" {
		t.Fatalf("X-Cache %q then %q", miss.header.Get("X-Cache"), hit.header.Get("X-Cache"))
	}
	replayed := decodeResponse(t, hit)
	if replayed.ID == decodeResponse(t, miss).ID || replayed.PreviousResponseID == nil || *replayed.PreviousResponseID != start.ID {
		t.Fatalf("a replay needs a fresh id and the same previous_response_id: %s", hit.body)
	}
	if r := create(`"input":"And then","previous_response_id":"` + replayed.ID + `"`); r.status != 200 {
		t.Fatalf("the replayed response cannot be continued: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		name, body string
		stored     bool
	}{
		{"store: true is stored", `"input":"Stored twice"`, true},
		{"store: false is not", `"input":"Never stored","store":false`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			create(tc.body)
			r := create(tc.body)
			if r.header.Get("X-Cache") != "HIT" {
				t.Fatalf("X-Cache %q", r.header.Get("X-Cache"))
			}
			got := f.do("GET", "/v1/responses/"+decodeResponse(t, r).ID, "", "")
			if (got.status == 200) != tc.stored {
				t.Fatalf("GET of the replayed response: %d %s", got.status, got.body)
			}
		})
	}
	if r := f.do("DELETE", "/v1/responses/"+start.ID, "", ""); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := create(next); r.status != http.StatusNotFound || r.errType(t) != "not_found_error" {
		t.Fatalf("a conversation that is gone must be a 404, not a replay: %d %s", r.status, r.body)
	}
}
