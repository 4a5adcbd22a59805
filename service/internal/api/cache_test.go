package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestCacheSingleFlight: concurrent identical misses do not all reach the upstream.
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
	if got := f.app.Sim.Stats().Requests; got >= 20 {
		t.Fatalf("%d concurrent identical misses made %d upstream requests", len(statuses), got)
	}
}
