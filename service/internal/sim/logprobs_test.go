package sim_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"aiservice/service/internal/sim"
	"aiservice/service/internal/wire"
)

// checkLogprobs: one entry per token of text, each negative with its alternatives, the first
// being the token itself and each less likely than the one before.
func checkLogprobs(t *testing.T, text string, lps []wire.Logprob, top int) {
	t.Helper()
	var joined strings.Builder
	for _, lp := range lps {
		joined.WriteString(lp.Token)
		if lp.Logprob >= 0 || lp.Logprob < -10 || len(lp.Bytes) != len(lp.Token) || len(lp.TopLogprobs) != top {
			t.Fatalf("implausible %+v", lp)
		}
		for i, alt := range lp.TopLogprobs {
			if i == 0 && (alt.Token != lp.Token || alt.Logprob != lp.Logprob) || i > 0 && alt.Logprob >= lp.TopLogprobs[i-1].Logprob {
				t.Fatalf("alternatives out of order: %+v", lp.TopLogprobs)
			}
		}
	}
	if joined.String() != text {
		t.Fatalf("the tokens make %q, the text is %q", joined.String(), text)
	}
}

func TestLogprobs(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{Chunks: 3}, "")
	t.Run("chat", func(t *testing.T) {
		var resp wire.ChatResponse
		r := post(t, srv.URL+"/v1/chat/completions", `{"model":"m","logprobs":true,"top_logprobs":3,"messages":[{"role":"user","content":"Hi"}]}`)
		if err := json.NewDecoder(r.Body).Decode(&resp); err != nil || resp.Choices[0].Logprobs == nil {
			t.Fatalf("%+v %v", resp, err)
		}
		checkLogprobs(t, resp.Choices[0].Message.Content.Text, resp.Choices[0].Logprobs.Content, 3)
	})
	t.Run("chat without asking", func(t *testing.T) {
		b, _ := io.ReadAll(post(t, srv.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`).Body)
		if strings.Contains(string(b), "logprobs") {
			t.Fatalf("logprobs nobody asked for: %s", b)
		}
	})
	t.Run("chat stream", func(t *testing.T) {
		b, _ := io.ReadAll(post(t, srv.URL+"/v1/chat/completions", `{"model":"m","stream":true,"logprobs":true,"top_logprobs":2,"messages":[{"role":"user","content":"Hi"}]}`).Body)
		var text strings.Builder
		var all []wire.Logprob
		for _, line := range strings.Split(string(b), "\n") {
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			var c wire.Chunk
			if err := json.Unmarshal([]byte(data), &c); err != nil {
				t.Fatal(err)
			}
			if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
				text.WriteString(c.Choices[0].Delta.Content)
				all = append(all, c.Choices[0].Logprobs.Content...)
			}
		}
		checkLogprobs(t, text.String(), all, 2)
	})
	t.Run("responses", func(t *testing.T) {
		var resp wire.Response
		r := post(t, srv.URL+"/v1/responses", `{"model":"m","input":"Hi","top_logprobs":4,"include":["message.output_text.logprobs"]}`)
		if err := json.NewDecoder(r.Body).Decode(&resp); err != nil || len(resp.Output) != 1 {
			t.Fatalf("%+v %v", resp, err)
		}
		part := resp.Output[0].Content[0]
		checkLogprobs(t, part.Text, part.Logprobs, 4)
	})
}

// A chat-only simulator (as Ollama or vLLM) has no Responses API: the gateway must translate.
func TestChatOnlyHasNoResponses(t *testing.T) {
	_, srv := newSim(t, sim.Behaviour{ChatOnly: true}, "")
	if r := post(t, srv.URL+"/v1/responses", `{"model":"m","input":"Hi"}`); r.StatusCode != 404 {
		t.Fatalf("POST /v1/responses on a chat-only simulator: %d", r.StatusCode)
	}
	if r := post(t, srv.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`); r.StatusCode != 200 {
		t.Fatalf("chat on a chat-only simulator: %d", r.StatusCode)
	}
}
