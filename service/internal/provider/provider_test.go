package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/sim"
	"aiservice/service/internal/wire"
)

func newClient(baseURL, key string) *OpenAI {
	return NewOpenAI(OpenAIConfig{Name: "test", System: "openai", BaseURL: baseURL, APIKey: key,
		ConnectTimeout: time.Second, ResponseHeaderTimeout: 5 * time.Second, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute})
}

// newSim starts the simulator and a client pointed at it.
func newSim(t *testing.T, b sim.Behaviour, key string) (*sim.Server, *OpenAI) {
	t.Helper()
	s := sim.New(b, key, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	p := newClient(srv.URL+"/v1/", key) // a trailing slash is tolerated
	t.Cleanup(p.CloseIdle)
	return s, p
}

func chatReq(text string) *wire.ChatRequest {
	return &wire.ChatRequest{Model: "gpt-4o-mini", Messages: []wire.Message{{Role: "user", Content: wire.TextContent(text)}}}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestChat(t *testing.T) {
	s, p := newSim(t, sim.Behaviour{}, "sk-test")
	if p.Name() != "test" || p.System() != "openai" {
		t.Errorf("name %q system %q", p.Name(), p.System())
	}
	resp, err := p.Chat(ctxT(t), chatReq("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content.Text == "" || resp.Usage == nil || resp.Usage.TotalTokens == 0 {
		t.Fatalf("response = %+v", resp)
	}
	// The key went out as a Bearer token.
	if st := s.Stats(); !st.LastAuthorized || st.ChatRequests != 1 {
		t.Fatalf("stats = %+v, want one authorized chat request", st)
	}
}

func TestAuthorization(t *testing.T) {
	_, srvURL := func() (*sim.Server, string) {
		s := sim.New(sim.Behaviour{}, "sk-right", slog.New(slog.DiscardHandler))
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		return s, srv.URL + "/v1"
	}()
	for _, tc := range []struct {
		name, key string
		wantErr   bool
	}{
		{"right key", "sk-right", false},
		{"wrong key", "sk-wrong", true},
		{"no key", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newClient(srvURL, tc.key).Chat(ctxT(t), chatReq("hi"))
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != 401 || se.Detail.Message != "the upstream answered 401 Unauthorized" {
				t.Fatalf("error %v, want a 401 StatusError with our own message", err)
			}
		})
	}
	// Exactly the header the upstream expects.
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
		w.WriteHeader(500)
	}))
	defer srv.Close()
	_, _ = newClient(srv.URL, "sk-abc").Chat(ctxT(t), chatReq("hi"))
	if h := <-got; h != "Bearer sk-abc" {
		t.Errorf("Authorization = %q", h)
	}
}

func TestChatStream(t *testing.T) {
	s, p := newSim(t, sim.Behaviour{Chunks: 3}, "")
	st, err := p.ChatStream(ctxT(t), chatReq("hello"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var text strings.Builder
	var usage *wire.Usage
	n := 0
	for {
		c, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
		if c.Usage != nil {
			usage = c.Usage
		}
	}
	// After [DONE] the stream stays at EOF.
	if _, err := st.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next after the end = %v, want io.EOF", err)
	}
	if n != 5 || text.Len() == 0 {
		t.Errorf("%d chunks with text %q, want 3 content + finish + usage", n, text.String())
	}
	// ChatStream asks for usage itself.
	if usage == nil || usage.CompletionTokens == 0 {
		t.Errorf("no usage chunk: %+v", usage)
	}
	if s.Stats().StreamRequests != 1 {
		t.Errorf("stats = %+v", s.Stats())
	}
}

func TestChatStreamTruncated(t *testing.T) {
	cases := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"connection closed mid-stream", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n")
		}},
		{"closed inside an event", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"cho")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			st, err := newClient(srv.URL, "").ChatStream(ctxT(t), chatReq("x"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Next(); err != nil {
				t.Fatalf("first chunk: %v", err)
			}
			_, err = st.Next()
			if err == nil || errors.Is(err, io.EOF) || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v, want one wrapping io.ErrUnexpectedEOF and not io.EOF", err)
			}
			var ce *ConnError
			if !errors.As(err, &ce) {
				t.Errorf("error %T, want a ConnError", err)
			}
		})
	}
	t.Run("the simulator's cut_stream_after", func(t *testing.T) {
		_, p := newSim(t, sim.Behaviour{Chunks: 4, CutStreamAfter: 2}, "")
		st, err := p.ChatStream(ctxT(t), chatReq("hello"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		n := 0
		for {
			_, err = st.Next()
			if err != nil {
				break
			}
			n++
		}
		if n != 2 || errors.Is(err, io.EOF) || !(errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, new(*ConnError))) {
			t.Fatalf("%d chunks then %v, want 2 then a truncation", n, err)
		}
	})
}

func TestStreamErrorEvents(t *testing.T) {
	for _, tc := range []struct {
		name, body, wantMsg string
	}{
		{"named error event", "event: error\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\",\"code\":\"busy\"}}\n\n", streamErrorWhat + " (code busy)"},
		{"error object in data", "data: {\"error\":{\"message\":\"bad\"}}\n\n", streamErrorWhat},
		{"error event without a body", "event: error\ndata: oops\n\n", streamErrorWhat},
		{"invalid chunk", "data: {not json\n\n", "upstream sent an invalid stream chunk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := streamOf(t, tc.body)
			var err error
			_, err = st.Next()
			if msg, ok := badAnswer(err); !ok || msg != tc.wantMsg {
				t.Fatalf("error %v, want an upstream error event or invalid answer %q", err, tc.wantMsg)
			}
		})
	}
}

func TestImages(t *testing.T) {
	s, p := newSim(t, sim.Behaviour{}, "")
	n := 2
	resp, err := p.Images(ctxT(t), &wire.ImageRequest{Model: "gpt-image-1", Prompt: "a cat", N: &n, Size: "32x32"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 || resp.Data[0].B64JSON == "" {
		t.Fatalf("response = %+v", resp)
	}
	if s.Stats().ImageRequests != 1 {
		t.Errorf("stats = %+v", s.Stats())
	}
	_, err = p.Images(ctxT(t), &wire.ImageRequest{Prompt: "a cat", Size: "huge"})
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 400 || se.Detail.Type != "invalid_request_error" {
		t.Fatalf("error %v, want the upstream's 400 and its type", err)
	}
}

func TestStatusErrors(t *testing.T) {
	date := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		body       string
		wantMsg    string
		wantType   string
		wantRA     func(time.Duration) bool
	}{
		{"503 with seconds", 503, "3", `{"error":{"message":"busy","type":"server_error"}}`, "the upstream answered 503 Service Unavailable", "server_error",
			func(d time.Duration) bool { return d == 3*time.Second }},
		{"429 with an HTTP date, clamped", 429, date, `{"error":{"message":"slow down","type":"rate_limit_error"}}`, "the upstream answered 429 Too Many Requests", "rate_limit_error",
			func(d time.Duration) bool { return d == DefaultMaxRetryAfter }},
		{"500 with a non-JSON body", 500, "", "<html>oops</html>", "the upstream answered 500 Internal Server Error", "upstream_error",
			func(d time.Duration) bool { return d == 0 }},
		{"400 keeps code and param, not the message", 400, "", `{"error":{"message":"bad model","type":"invalid_request_error","code":"model_not_found","param":"model"}}`,
			"the upstream answered 400 Bad Request (code model_not_found, param model)", "invalid_request_error",
			func(d time.Duration) bool { return d == 0 }},
		{"a type that is not an identifier", 400, "", `{"error":{"message":"m","type":"<script>","code":"a b"}}`, "the upstream answered 400 Bad Request", "upstream_error",
			func(d time.Duration) bool { return d == 0 }},
		{"404", 404, "", `{}`, "the upstream answered 404 Not Found", "upstream_error", func(d time.Duration) bool { return d == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p := newClient(srv.URL, "")
			for name, call := range map[string]func() error{
				"chat":   func() error { _, err := p.Chat(ctxT(t), chatReq("x")); return err },
				"stream": func() error { _, err := p.ChatStream(ctxT(t), chatReq("x")); return err },
				"images": func() error { _, err := p.Images(ctxT(t), &wire.ImageRequest{Prompt: "x"}); return err },
			} {
				err := call()
				var se *StatusError
				if !errors.As(err, &se) {
					t.Fatalf("%s: error %v, want a StatusError", name, err)
				}
				if se.StatusCode != tc.status || se.Detail.Message != tc.wantMsg || se.Detail.Type != tc.wantType {
					t.Errorf("%s: %+v", name, se)
				}
				if !tc.wantRA(se.RetryAfter) {
					t.Errorf("%s: RetryAfter = %v", name, se.RetryAfter)
				}
				if !strings.Contains(err.Error(), fmt.Sprint(tc.status)) {
					t.Errorf("%s: message %q lacks the status", name, err.Error())
				}
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"5", 5 * time.Second},
		{"1.5", 1500 * time.Millisecond},
		{"-1", 0},
		{"soon", 0},
		{"Sun, 01 Jun 2025 12:00:30 GMT", 30 * time.Second},
		{"Sunday, 01-Jun-25 12:01:00 GMT", time.Minute}, // RFC 850, also allowed by HTTP
		{"Sun, 01 Jun 2025 11:59:00 GMT", 0},            // in the past
		{"99999999", time.Minute},                       // clamped to the limit
		{"1e300", time.Minute},
		{"Inf", time.Minute},
		{"NaN", 0},
		{"Tue, 01 Jun 2100 12:00:00 GMT", time.Minute},
	} {
		if got := parseRetryAfter(tc.in, now, time.Minute); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestConnErrorOnClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := newClient("http://"+addr+"/v1", "")
	_, err = p.Chat(ctxT(t), chatReq("x"))
	var ce *ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want a ConnError", err)
	}
	if !strings.HasPrefix(err.Error(), "upstream connection: ") || errors.Unwrap(ce) == nil {
		t.Errorf("message %q", err.Error())
	}
	if _, err := p.ChatStream(ctxT(t), chatReq("x")); !errors.As(err, &ce) {
		t.Errorf("stream: %v", err)
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a silent upstream: no headers until the test ends
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	p := NewOpenAI(OpenAIConfig{BaseURL: srv.URL, ConnectTimeout: time.Second, ResponseHeaderTimeout: 150 * time.Millisecond, MaxIdleConnsPerHost: 1})
	start := time.Now()
	_, err := p.Chat(ctxT(t), chatReq("x"))
	took := time.Since(start)
	var ce *ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want a ConnError", err)
	}
	if took < 150*time.Millisecond || took > 3*time.Second {
		t.Fatalf("gave up after %v, want about 150ms", took)
	}
}

func TestContextEnds(t *testing.T) {
	_, p := newSim(t, sim.Behaviour{Latency: sim.Duration(time.Minute)}, "")
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := p.Chat(ctx, chatReq("x"))
		if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, new(*ConnError)) {
			t.Fatalf("error %v, want the deadline and not a ConnError (not retryable)", err)
		}
	})
	t.Run("cancel cause", func(t *testing.T) {
		cause := errors.New("client went away")
		ctx, cancel := context.WithCancelCause(context.Background())
		time.AfterFunc(50*time.Millisecond, func() { cancel(cause) })
		_, err := p.ChatStream(ctx, chatReq("x"))
		if !errors.Is(err, cause) || errors.As(err, new(*ConnError)) {
			t.Fatalf("error %v, want the cancel cause", err)
		}
	})
	t.Run("mid-stream", func(t *testing.T) {
		_, p := newSim(t, sim.Behaviour{InterTokenDelay: sim.Duration(time.Minute)}, "")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := p.ChatStream(ctx, chatReq("x"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Next(); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := st.Next(); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
}

func TestInvalidUpstreamBodies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		length  string // a Content-Length longer than the body makes a truncated read
		wantBad bool   // an InvalidError, else a ConnError (truncated)
	}{
		{"not JSON", "<html>", "", true},
		{"wrong shape", `{"choices":"many","data":5}`, "", true},
		{"truncated", `{"id":"x","choi`, "100", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.length != "" {
					w.Header().Set("Content-Length", tc.length)
				}
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p := newClient(srv.URL, "")
			for name, call := range map[string]func() error{
				"chat":   func() error { _, err := p.Chat(ctxT(t), chatReq("x")); return err },
				"images": func() error { _, err := p.Images(ctxT(t), &wire.ImageRequest{Prompt: "x"}); return err },
			} {
				err := call()
				var ie *InvalidError
				var ce *ConnError
				if tc.wantBad && !errors.As(err, &ie) {
					t.Errorf("%s: error %v, want an InvalidError", name, err)
				}
				if !tc.wantBad && (!errors.As(err, &ce) || !errors.Is(err, io.ErrUnexpectedEOF)) {
					t.Errorf("%s: error %v, want a ConnError wrapping io.ErrUnexpectedEOF", name, err)
				}
			}
		})
	}
}

func TestTraceparent(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(ctxT(t), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	for _, tc := range []struct {
		name       string
		propagator propagation.TextMapPropagator
		want       string
	}{
		{"with a propagator", propagation.TraceContext{}, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"without", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Behaviour{}, "", slog.New(slog.DiscardHandler))
			srv := httptest.NewServer(s)
			defer srv.Close()
			p := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", ConnectTimeout: time.Second, MaxIdleConnsPerHost: 1, Propagator: tc.propagator})
			if _, err := p.Chat(ctx, chatReq("x")); err != nil {
				t.Fatal(err)
			}
			if got := s.Stats().LastTraceparent; got != tc.want {
				t.Fatalf("traceparent %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDecodeChunk(t *testing.T) {
	c, err := DecodeChunk("", []byte(`{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}`))
	if err != nil || c.ID != "c1" || c.Choices[0].Delta.Content != "hi" || c.Choices[0].FinishReason != nil {
		t.Fatalf("chunk %+v, %v", c, err)
	}
	for _, tc := range []struct {
		name, event, data, wantMsg string
	}{
		{"error event", "error", `{"error":{"message":"m","type":"t"}}`, streamErrorWhat},
		{"error object", "", `{"error":{"message":"m2"}}`, streamErrorWhat},
		{"error event without a message", "error", `{}`, streamErrorWhat},
		{"garbage", "", `]]`, "upstream sent an invalid stream chunk"},
		{"wrong type", "", `{"choices":{}}`, "upstream sent an invalid stream chunk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeChunk(tc.event, []byte(tc.data))
			if msg, ok := badAnswer(err); !ok || msg != tc.wantMsg {
				t.Fatalf("error %v, want an upstream error event or invalid answer %q", err, tc.wantMsg)
			}
		})
	}
}

// badAnswer is the message of an upstream error event (a 502 StatusError) or of an answer that
// is not what the dialect promises (an InvalidError).
func badAnswer(err error) (string, bool) {
	var se *StatusError
	var ie *InvalidError
	switch {
	case errors.As(err, &se) && se.StatusCode == http.StatusBadGateway:
		return se.Detail.Message, true
	case errors.As(err, &ie):
		return ie.Error(), true
	}
	return "", false
}

// streamOf opens a chat stream from an upstream that answers body as an event stream.
func streamOf(t *testing.T, body string) Stream {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	st, err := newClient(srv.URL, "").ChatStream(ctxT(t), chatReq("x"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
