package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type testChunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *fixtureUsage `json:"usage"`
}

func postFixture(t *testing.T, h http.Handler, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
	return w
}

func TestFixtureCompletion(t *testing.T) {
	f := newFixture(defaultAnswerSizes, 50, 0)
	for _, body := range realisticBodies(false) {
		w := postFixture(t, f, "/v1/chat/completions", string(body))
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		var got struct {
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
			Usage fixtureUsage `json:"usage"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		n := len(got.Choices[0].Message.Content)
		if n < 1024 || n > 2048 {
			t.Errorf("answer of %d bytes, want 1–2 KB", n)
		}
		u := got.Usage
		if u.PromptTokens < len(body)/8 || u.CompletionTokens != n/4 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			t.Errorf("usage %+v for a %d-byte prompt and a %d-byte answer", u, len(body), n)
		}
		if again := postFixture(t, f, "/v1/chat/completions", string(body)); again.Body.String() != w.Body.String() {
			t.Error("the same request got a different answer")
		}
	}
}

func TestFixtureMixesAnswerSizes(t *testing.T) {
	f := newFixture(defaultAnswerSizes, 50, 0)
	sizes := map[int]bool{}
	for _, b := range realisticBodies(false) {
		sizes[f.answerSize(b)] = true
	}
	if len(sizes) < 3 {
		t.Errorf("the realistic prompts get %d answer sizes, want several", len(sizes))
	}
}

func TestFixtureRejects(t *testing.T) {
	f := newFixture(defaultAnswerSizes, 50, 0)
	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"other path", "/v1/embeddings", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, http.StatusNotFound},
		{"not JSON", "/v1/chat/completions", `{`, http.StatusBadRequest},
		{"no messages", "/v1/chat/completions", `{"model":"m"}`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w := postFixture(t, f, tc.path, tc.body); w.Code != tc.want {
				t.Errorf("status %d, want %d", w.Code, tc.want)
			}
		})
	}
}

func TestFixtureStream(t *testing.T) {
	const chunks, gap = 5, 4 * time.Millisecond
	srv := httptest.NewServer(newFixture([]int{1500}, chunks, gap))
	defer srv.Close()
	for _, tc := range []struct {
		name      string
		body      string
		wantUsage bool
	}{
		{"usage asked for", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, true},
		{"no usage", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var text strings.Builder
			content, finishes, usages, done := 0, 0, 0, false
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				data, ok := strings.CutPrefix(sc.Text(), "data: ")
				if !ok {
					continue
				}
				if data == "[DONE]" {
					done = true
					break
				}
				var c testChunk
				if err := json.Unmarshal([]byte(data), &c); err != nil {
					t.Fatalf("chunk %q: %v", data, err)
				}
				if c.Usage != nil {
					usages++
				}
				for _, ch := range c.Choices {
					if ch.FinishReason != nil {
						finishes++
					} else {
						content++
						text.WriteString(ch.Delta.Content)
					}
				}
			}
			if elapsed := time.Since(start); elapsed < chunks*gap {
				t.Errorf("stream took %v, the pace is %d × %v", elapsed, chunks, gap)
			}
			want := 0
			if tc.wantUsage {
				want = 1
			}
			if content != chunks || finishes != 1 || usages != want || !done {
				t.Errorf("%d content chunks, %d finish, %d usage, [DONE] %v; want %d, 1, %d, true", content, finishes, usages, done, chunks, want)
			}
			if text.String() != answerText(1500) {
				t.Errorf("the chunks join to %d bytes, not the %d-byte answer", text.Len(), 1500)
			}
		})
	}
}
