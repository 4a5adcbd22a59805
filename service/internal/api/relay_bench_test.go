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

// BenchmarkStreamRelay is one whole streaming request through the gateway (in-process
// simulator over loopback HTTP, 8 content chunks, usage, [DONE]): the SSE relay's cost per
// stream, allocations included.
func BenchmarkStreamRelay(b *testing.B) {
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
	body := `{"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello there"}]}`
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasSuffix(string(out), "data: [DONE]\n\n") {
			b.Fatalf("status %d: %.200s", resp.StatusCode, out)
		}
	}
}
