package api

import (
	"strings"
	"testing"
	"time"

	"aiservice/service/internal/config"
)

// The agents deadline covers the whole /v1/agents group, reads included (issue 15 item 7).
func TestAgentRoutesShareTheAgentsDeadline(t *testing.T) {
	s := &server{}
	n := 0
	for _, rt := range s.routes(nil) {
		if strings.HasPrefix(rt.path, "/v1/agents") {
			n++
			if rt.group != groupAgents {
				t.Errorf("%s %s has deadline group %q, want %q", rt.method, rt.path, rt.group, groupAgents)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d agent routes, want 3", n)
	}
}

// Every route gets the deadline of its group, healthz and default included (issue 15 item 7):
// with a distinct timeout per group, each route's deadline names its group.
func TestEveryRouteHasItsGroupsDeadline(t *testing.T) {
	d := func(s string) config.Duration { v, _ := time.ParseDuration(s); return config.Duration(v) }
	tm := config.Timeouts{Chat: d("11s"), Stream: d("12s"), Images: d("13s"), Agents: d("14s"), Healthz: d("15s"), Default: d("16s"), Embeddings: d("17s"), Messages: d("18s")}
	want := map[string]time.Duration{
		"POST /v1/chat": 11 * time.Second, "POST /v1/chat/stream": 12 * time.Second, "POST /v1/chat/completions": 12 * time.Second,
		"POST /v1/images": 13 * time.Second, "POST /v1/images/generations": 13 * time.Second,
		"POST /v1/embeddings": 17 * time.Second,
		"POST /v1/messages":   18 * time.Second, "POST /v1/messages/count_tokens": 18 * time.Second,
		"POST /v1/responses": 12 * time.Second, "GET /v1/responses/:id": 16 * time.Second, "DELETE /v1/responses/:id": 16 * time.Second,
		"GET /v1/responses/:id/input_items": 16 * time.Second,
		"GET /v1/agents":                    14 * time.Second, "GET /v1/agents/:id": 14 * time.Second, "POST /v1/agents/:id/runs": 14 * time.Second,
		"GET /healthz": 15 * time.Second, "GET /readyz": 15 * time.Second, "GET /metrics": 15 * time.Second,
		"GET /v1/models": 16 * time.Second, "GET /openapi.json": 16 * time.Second,
	}
	s := &server{}
	seen := map[string]bool{}
	for _, rt := range s.routes(nil) {
		key := rt.method + " " + rt.path
		seen[key] = true
		w, ok := want[key]
		if !ok {
			t.Errorf("%s: a route this test does not know; add its deadline", key)
			continue
		}
		if got := tm.For(rt.group); got != w {
			t.Errorf("%s: deadline %v (group %q), want %v", key, got, rt.group, w)
		}
	}
	for key := range want {
		if !seen[key] {
			t.Errorf("%s: no such route", key)
		}
	}
}
