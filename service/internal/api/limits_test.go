package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func keyHash(k string) string {
	d := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(d[:])
}

// TestVirtualKeys: who may call what, and what a limited key is told, on every surface.
func TestVirtualKeys(t *testing.T) {
	f := newFixture(t, fmt.Sprintf(`
api_keys: [sk-plain]
keys:
  - {name: mini-only, hash: %q, models: [gpt-4o-mini, text-embedding-3-small]}
  - {name: rpm2, hash: %q, rpm: 2, tpm: 100000}
  - {name: poor, hash: %q, daily_usd: 0.000001}
  - {name: gone, hash: %q, revoked: true}
  - {name: embed-only, hash: %q, models: [text-embedding-3-small]}
`, keyHash("sk-mini"), keyHash("sk-rpm"), keyHash("sk-poor"), keyHash("sk-gone"), keyHash("sk-embed")))
	chat := `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"max_tokens":16}`
	mini := strings.Replace(chat, "gpt-4o", "gpt-4o-mini", 1)
	for _, tc := range []struct {
		name, key, path, body string
		status                int
		code                  string
	}{
		{"a plain api_keys key has no limits", "sk-plain", "/v1/chat", chat, 200, ""},
		{"unknown key", "sk-nope", "/v1/chat", chat, 401, "invalid_api_key"},
		{"revoked key", "sk-gone", "/v1/chat", chat, 401, "invalid_api_key"},
		{"model not allowed", "sk-mini", "/v1/chat", chat, 403, "model_not_allowed"},
		{"model not allowed on streams", "sk-mini", "/v1/chat/stream", chat, 403, "model_not_allowed"},
		{"model not allowed on embeddings", "sk-mini", "/v1/embeddings", `{"model":"text-embedding-3-large","input":"a"}`, 403, "model_not_allowed"},
		{"model not allowed on images", "sk-mini", "/v1/images", `{"prompt":"a cat"}`, 403, "model_not_allowed"},
		{"model not allowed on agents", "sk-embed", "/v1/agents/calculator/runs", `{"input":"1+1"}`, 403, "model_not_allowed"},
		{"allowed model", "sk-mini", "/v1/chat", mini, 200, ""},
		{"allowed embeddings", "sk-mini", "/v1/embeddings", `{"model":"text-embedding-3-small","input":"a"}`, 200, ""},
		{"budget spent", "sk-poor", "/v1/chat", mini, 429, "budget_exceeded"},
		{"rpm 1", "sk-rpm", "/v1/chat", mini, 200, ""},
		{"rpm 2 (a stream)", "sk-rpm", "/v1/chat/stream", mini, 200, ""},
		{"rpm 3", "sk-rpm", "/v1/embeddings", `{"model":"text-embedding-3-small","input":"a"}`, 429, "rate_limit_exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do("POST", tc.path, "application/json", tc.body, "Authorization", "Bearer "+tc.key)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.code != "" && r.errType(t) != "" && !strings.Contains(string(r.body), `"code":"`+tc.code+`"`) {
				t.Fatalf("want code %s: %s", tc.code, r.body)
			}
			if tc.status == 429 && r.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			if tc.key == "sk-rpm" {
				for _, h := range []string{"limit-requests", "remaining-requests", "reset-requests", "limit-tokens", "remaining-tokens", "reset-tokens"} {
					if r.header.Get("x-ratelimit-"+h) == "" {
						t.Fatalf("no x-ratelimit-%s on a limited key's answer (%d)", h, r.status)
					}
				}
			}
		})
	}
	if r := f.do("POST", "/v1/chat", "application/json", mini, "Authorization", "Bearer sk-rpm"); r.header.Get("x-ratelimit-remaining-requests") != "0" || r.header.Get("x-ratelimit-limit-requests") != "2" {
		t.Fatalf("remaining %q of %q", r.header.Get("x-ratelimit-remaining-requests"), r.header.Get("x-ratelimit-limit-requests"))
	}
	m := f.do("GET", "/metrics", "", "")
	for _, want := range []string{`limits_limited_total{key="rpm2",limit="requests"} 2`, `limits_admitted_total{key="rpm2"} 2`,
		`limits_limited_total{key="poor",limit="daily_budget"} 1`} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(m.body), "sk-") || m.status != http.StatusOK {
		t.Error("a key's text reached the metrics")
	}
	// A client's own limit is its 4xx, not the gateway's failure: availability stays whole.
	for _, route := range []string{"/v1/chat", "/v1/embeddings"} {
		series := func(result string) string {
			return `slo_events_total{result="` + result + `",route="` + route + `",route_group="` + strings.TrimPrefix(route, "/v1/") + `",slo="availability"}`
		}
		if bad, good := f.metric(series("bad")), f.metric(series("good")); bad != 0 || good == 0 {
			t.Errorf("%s: %v bad and %v good availability events after 200, 401, 403 and 429 answers", route, bad, good)
		}
	}
}

// TestStreamOverBudget: a stream whose output crosses what its key's budget had left is cut
// with an SSE error event at the next chunk — or finishes, when so configured.
func TestStreamOverBudget(t *testing.T) {
	for _, tc := range []struct {
		mode, end string
	}{{"cut", `"code":"budget_exceeded"`}, {"finish", "data: [DONE]"}} {
		t.Run(tc.mode, func(t *testing.T) {
			// $1 an output token; the reservation assumes one, the budget leaves two more.
			f := newFixture(t, fmt.Sprintf(`
prices: {gpt-4o-mini: {input_per_1m: 0, output_per_1m: 1000000}}
limits: {max_output_tokens: 1, stream_over_budget: %s}
simulator: {chunks: 16}
keys: [{name: k, hash: %q, daily_usd: 3}]
`, tc.mode, keyHash("sk")))
			r := f.do("POST", "/v1/chat/stream", "application/json", `{"messages":[{"role":"user","content":"Tell me a long story"}]}`,
				"Authorization", "Bearer sk")
			body := string(r.body)
			if r.status != 200 || !strings.Contains(body, tc.end) {
				t.Fatalf("%d, want the stream to end with %s:\n%s", r.status, tc.end, body)
			}
			if tc.mode == "cut" && (strings.Contains(body, "[DONE]") || strings.Count(body, "data: ") >= 16) {
				t.Fatalf("the stream was not cut at the chunk that crossed the budget:\n%s", body)
			}
		})
	}
}
