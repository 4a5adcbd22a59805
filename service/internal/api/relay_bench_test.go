package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"aiservice/service/internal/app"
	"aiservice/service/internal/config"
)

// benchRequests sends body to /v1/chat/completions b.N times through the whole gateway
// (in-process simulator over loopback HTTP) and checks each answer ends with suffix.
func benchRequests(b *testing.B, body, suffix string) {
	cfg, err := config.Parse([]byte("log_level: error"))
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Getenv: func(string) string { return "" },
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	a.Ready.Store(true)
	srv := httptest.NewServer(a.Handler)
	defer func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Close(ctx)
	}()
	client := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasSuffix(strings.TrimSpace(string(out)), suffix) {
			b.Fatalf("status %d: %.200s", resp.StatusCode, out)
		}
	}
}

// BenchmarkStreamRelay is one whole streaming request (8 content chunks, usage, [DONE]): the
// SSE relay's cost per stream, allocations included.
func BenchmarkStreamRelay(b *testing.B) {
	benchRequests(b, `{"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello there"}]}`,
		"data: [DONE]")
}

// BenchmarkChatRelay is one whole non-streaming chat completion: the pass-through path.
func BenchmarkChatRelay(b *testing.B) {
	benchRequests(b, `{"messages":[{"role":"user","content":"Hello there"}]}`, "}")
}
