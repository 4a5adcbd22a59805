package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"aiservice/service/internal/app"
	"aiservice/service/internal/config"
	"aiservice/service/internal/sim"
)

// fixture is the whole service (real in-process simulator over loopback HTTP) behind an
// httptest server.
type fixture struct {
	t   *testing.T
	app *app.App
	srv *httptest.Server
	cfg *config.Config
	log *syncBuf
}

// newFixture builds the service from YAML over the embedded defaults.
func newFixture(t *testing.T, yaml string) *fixture {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuf{}
	a, err := app.New(context.Background(), cfg, app.Options{Version: "test", Getenv: func(string) string { return "" },
		Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	a.Ready.Store(true)
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Close(ctx)
	})
	return &fixture{t: t, app: a, srv: srv, cfg: cfg, log: logs}
}

// behave sets the in-process simulator's behaviour.
func (f *fixture) behave(b sim.Behaviour) { f.app.Sim.SetBehaviour(b) }

type result struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

func (r result) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	return m
}

// errType returns error.type of an error body (and fails when the body is not the shape).
func (r result) errType(t *testing.T) string {
	t.Helper()
	var e struct {
		Error *struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Code    *string `json:"code"`
			Param   *string `json:"param"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("not an OpenAI error body (%v): %s", err, r.body)
	}
	return e.Error.Type
}

func (f *fixture) do(method, path, contentType, body string, headers ...string) result {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("read body: %v", err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: b, took: time.Since(start)}
}

func (f *fixture) post(path, body string, headers ...string) result {
	f.t.Helper()
	return f.do(http.MethodPost, path, "application/json", body, headers...)
}

// metric returns the value of one sample line of /metrics (0 when absent).
func (f *fixture) metric(series string) float64 {
	f.t.Helper()
	r := f.do(http.MethodGet, "/metrics", "", "")
	for _, line := range strings.Split(string(r.body), "\n") {
		if strings.HasPrefix(line, series+" ") {
			var v float64
			if err := json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, series))), &v); err == nil {
				return v
			}
		}
	}
	return 0
}

// events splits an SSE body into (event name, data) pairs.
func events(body []byte) [][2]string {
	var out [][2]string
	for _, block := range strings.Split(strings.TrimSpace(string(body)), "\n\n") {
		var name, data string
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
		if data != "" {
			out = append(out, [2]string{name, data})
		}
	}
	return out
}

// within fails unless d is in [lo, hi].
func within(t *testing.T, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Errorf("%s took %v, want between %v and %v", what, d, lo, hi)
	}
}

// syncBuf is a log sink safe for the server's goroutines and the test.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const userHi = `{"messages":[{"role":"user","content":"hello there"}]}`

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode) // as cmd/aiservice does: no route listing in the test output
	os.Exit(m.Run())
}
