package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"aiservice/harness/launch"
)

// TestSimChatOnlyFlag: `aiservice sim --chat-only` is a chat-only server, as Ollama or vLLM:
// /v1/responses answers 404 while chat completions are served; without the flag it speaks both.
func TestSimChatOnlyFlag(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		responses int
	}{
		{"both dialects", nil, http.StatusOK},
		{"chat only", []string{"--chat-only"}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := launch.MustStartSim(t, launch.Options{Args: tc.args})
			for _, c := range []struct{ path, body string }{
				{"/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
				{"/v1/responses", `{"model":"gpt-4o-mini","input":"hi"}`},
			} {
				want := http.StatusOK
				if c.path == "/v1/responses" {
					want = tc.responses
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sim.URL+c.path, strings.NewReader(c.body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					cancel()
					t.Fatal(err)
				}
				resp.Body.Close()
				cancel()
				if resp.StatusCode != want {
					t.Errorf("%s: status %d, want %d", c.path, resp.StatusCode, want)
				}
			}
		})
	}
}
