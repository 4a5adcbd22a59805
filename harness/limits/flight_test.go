package limits

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"aiservice/harness/launch"
)

// TestStreamSingleFlight: N concurrent identical streamed requests on each streaming surface
// (chat, Responses on both upstream dialects, Anthropic's Messages) reach the upstream — a
// separate simulator process, counted by its /_sim/stats — once: one answer is a MISS, the
// others replay it as HITs, event for event, at $0. With the in-process cache and with the
// cache in Redis.
func TestStreamSingleFlight(t *testing.T) {
	const n = 16
	ctx := context.Background()
	up := launch.MustStartSim(t, launch.Options{})
	sim := launch.SimControl{URL: up.URL}
	r := launch.StartRedis(t, false)
	surfaces := []struct{ name, path, body string }{
		{"chat", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"%s"}]}`},
		{"responses", "/v1/responses", `{"model":"gpt-4o-mini","stream":true,"input":"%s"}`},
		{"responses passed through", "/v1/responses", `{"model":"gpt-4o-r","stream":true,"input":"%s"}`},
		{"messages", "/v1/messages", `{"model":"claude-haiku-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"%s"}]}`},
	}
	for _, store := range []struct{ name, yaml string }{
		{"in-process", ""},
		{"redis", fmt.Sprintf("store: {url: %s}", r.URL())},
	} {
		svc := launch.MustStartService(t, launch.Options{Config: fmt.Sprintf(`
providers:
  - {name: chat, type: openai, base_url: %[1]s/v1}
  - {name: resp, type: openai, api: responses, base_url: %[1]s/v1}
  - {name: anthropic-up, type: anthropic, base_url: %[1]s}
models:
  - {name: gpt-4o-mini, provider: chat}
  - {name: gpt-4o-r, provider: resp, upstream_model: gpt-4o-mini}
  - {name: claude-haiku-4-5, provider: anthropic-up}
cache: {default: shared}
%[2]s
`, up.URL, store.yaml)})
		for _, sf := range surfaces {
			t.Run(store.name+"/"+sf.name, func(t *testing.T) {
				// The upstream answers slowly enough for all the requests to arrive while the
				// first is in flight; those that arrive after it find the entry stored.
				if err := sim.SetBehaviour(ctx, launch.SimBehaviour{Latency: "300ms"}); err != nil {
					t.Fatal(err)
				}
				before, err := sim.Stats(ctx)
				if err != nil {
					t.Fatal(err)
				}
				body := fmt.Sprintf(sf.body, "Everyone streams this at once ("+store.name+", "+sf.name+")")
				cache := make([]string, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() { cache[i] = stream(t, svc.URL+sf.path, body) })
				}
				wg.Wait()
				after, err := sim.Stats(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got := after.Requests - before.Requests; got != 1 {
					t.Fatalf("%d concurrent identical streams made %d upstream calls", n, got)
				}
				if c := strings.Join(cache, " "); strings.Count(c, "MISS") != 1 || strings.Count(c, "HIT") != n-1 {
					t.Fatalf("X-Cache: %v", cache)
				}
			})
		}
	}
}

// stream sends one streamed request and returns its X-Cache, once the whole stream was read.
func stream(t *testing.T, url, body string) string {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := hc.Do(req)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Errorf("%d %s: %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	if x := resp.Header.Get("X-Cache"); x == "HIT" && resp.Header.Get("X-Cost-USD") != "0" {
		t.Errorf("a hit cost %s", resp.Header.Get("X-Cost-USD"))
	}
	return resp.Header.Get("X-Cache")
}
