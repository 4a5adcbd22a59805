package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/sim"
	"aiservice/service/internal/sse"
	"aiservice/service/internal/testkit"
	"aiservice/service/internal/translate"
	"aiservice/service/internal/wire"
)

func newAnthropic(baseURL, key string, drop bool) *Anthropic {
	return NewAnthropic(AnthropicConfig{Version: "2023-06-01", OpenAIConfig: OpenAIConfig{Name: "claude", System: "anthropic", BaseURL: baseURL, APIKey: key,
		ConnectTimeout: time.Second, ResponseHeaderTimeout: 5 * time.Second, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute,
		Translate: translate.Options{DropUnsupported: drop}}})
}

// newAnthropicSim starts the simulator and an Anthropic client pointed at its Messages dialect.
func newAnthropicSim(t *testing.T, b sim.Behaviour, key string) (*sim.Server, *Anthropic) {
	t.Helper()
	s := sim.New(b, key, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	p := newAnthropic(srv.URL+"/v1", key, false) // a base URL with /v1 is tolerated
	t.Cleanup(p.CloseIdle)
	return s, p
}

func messagesReq(text string) *wire.MessagesRequest {
	n := 64
	return &wire.MessagesRequest{Model: "claude-sonnet-4-5", MaxTokens: &n, Messages: []wire.AMessage{{Role: "user", Content: wire.AContent{{Type: "text", Text: text}}}}}
}

func TestAnthropicMessagesNative(t *testing.T) {
	_, p := newAnthropicSim(t, sim.Behaviour{}, "sk-ant")
	if p.Name() != "claude" || p.System() != "anthropic" || !p.Native() || !strings.HasSuffix(p.URL("chat"), "/v1/messages") {
		t.Errorf("name %q system %q url %q", p.Name(), p.System(), p.URL("chat"))
	}
	req := messagesReq("hello")
	req.Raw = []byte(`{"model":"ignored","max_tokens":64,"messages":[{"role":"user","content":"hello"}],"unknown_field":1}`)
	b, err := p.MessagesRaw(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	var m wire.MessagesResponse
	if err := json.Unmarshal(b, &m); err != nil || m.Type != "message" || m.Model != "claude-sonnet-4-5" || len(m.Content) != 1 || m.Usage.OutputTokens == 0 {
		t.Fatalf("message %s (%v)", b, err)
	}
	count, err := p.CountTokensRaw(ctxT(t), req)
	if err != nil || !strings.Contains(string(count), `"input_tokens"`) {
		t.Errorf("count_tokens %s (%v)", count, err)
	}
}

func TestAnthropicStreamNative(t *testing.T) {
	_, p := newAnthropicSim(t, sim.Behaviour{Chunks: 4}, "")
	st, err := p.MessagesStream(ctxT(t), messagesReq("hello"))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, b := range rawEvents(t, st) {
		var ev wire.AEvent
		if err := json.Unmarshal([]byte(b), &ev); err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
	}
	if got := strings.Join(types, " "); !strings.HasPrefix(got, "message_start ping content_block_start content_block_delta") ||
		!strings.HasSuffix(got, "content_block_stop message_delta message_stop") {
		t.Errorf("events %s", got)
	}
}

// TestAnthropicServesChat: the Provider side, by translation, against the simulator's
// Messages dialect: a completion and a stream with the usage chunk at the end.
func TestAnthropicServesChat(t *testing.T) {
	_, p := newAnthropicSim(t, sim.Behaviour{Chunks: 3}, "sk-ant")
	c, err := p.ChatRaw(ctxT(t), chatReq("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Model.Found() || c.Parsed == nil || c.Parsed.CompletionTokens == 0 {
		t.Fatalf("%s: model %v, usage %+v; want both read from the translation", c.Body, c.Model, c.Parsed)
	}
	st, err := p.ChatStream(ctxT(t), chatReq("hello"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var text strings.Builder
	var usage *wire.Usage
	finish := ""
	for {
		c, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
		if c.Usage != nil {
			usage = c.Usage
		}
	}
	if text.Len() == 0 || finish != "stop" || usage == nil || usage.PromptTokens == 0 || usage.CompletionTokens == 0 {
		t.Errorf("text %q finish %q usage %+v", text.String(), finish, usage)
	}
	req := chatReq("x")
	n := 2
	req.N = &n
	var e *apperr.Error
	if _, err := p.ChatRaw(ctxT(t), req); !errors.As(err, &e) || e.Param != "n" {
		t.Errorf("n = 2: %v, want a 400 naming n", err)
	}
}

// TestAnthropicHeadersAndErrors: the key goes in x-api-key (never Bearer), the client's
// version and betas are forwarded, and Anthropic's error answers become StatusErrors with
// their status, type and Retry-After — 529 included.
func TestAnthropicHeadersAndErrors(t *testing.T) {
	var got http.Header
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		if status != http.StatusOK {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded sk-ant-secret"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}`)
	}))
	defer srv.Close()
	p := newAnthropic(srv.URL, "sk-ant-secret", false)
	req := messagesReq("x")
	req.Version, req.Beta = "2024-01-01", "prompt-caching-2024-07-31"
	if _, err := p.MessagesRaw(ctxT(t), req); err != nil {
		t.Fatal(err)
	}
	if got.Get("X-Api-Key") != "sk-ant-secret" || got.Get("Authorization") != "" || got.Get("Anthropic-Version") != "2024-01-01" ||
		got.Get("Anthropic-Beta") != "prompt-caching-2024-07-31" {
		t.Errorf("headers %v", got)
	}
	if _, err := p.MessagesRaw(ctxT(t), messagesReq("x")); err != nil || got.Get("Anthropic-Version") != "2023-06-01" {
		t.Errorf("default version: %q (%v)", got.Get("Anthropic-Version"), err)
	}
	status = 529
	for name, call := range map[string]func() error{
		"messages": func() error { _, err := p.MessagesRaw(ctxT(t), messagesReq("x")); return err },
		"stream":   func() error { _, err := p.MessagesStream(ctxT(t), messagesReq("x")); return err },
		"chat":     func() error { _, err := p.ChatRaw(ctxT(t), chatReq("x")); return err },
	} {
		var se *StatusError
		if err := call(); !errors.As(err, &se) || se.StatusCode != 529 || se.Detail.Type != "overloaded_error" || se.RetryAfter != 2*time.Second ||
			strings.Contains(se.Detail.Message, "sk-ant") {
			t.Errorf("%s: %v (%+v)", name, err, se)
		}
	}
}

func TestCheckMessage(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"type":"message","content":[],"usage":{"input_tokens":1,"output_tokens":2}}`, true},
		{`{"type":"message","content":[{"type":"text","text":"x"}]}`, true},
		{`{"type":"completion","content":[]}`, false},
		{`{"type":"message","content":"x"}`, false},
		{`{"type":"message"}`, false},
		{`{"type":"message","content":[],"usage":{"input_tokens":-1,"output_tokens":2}}`, false},
		{`{"type":"message","content":[],"usage":{"input_tokens":1,"output_tokens":200000000}}`, false},
		{`not json`, false},
	} {
		var ie *InvalidError
		if err := CheckMessage([]byte(tc.body)); (err == nil) != tc.ok || err != nil && !errors.As(err, &ie) {
			t.Errorf("%s: %v", tc.body, err)
		}
	}
}

// TestOpenAIServesMessages: an OpenAI-dialect upstream (the simulator's chat completions)
// answers Messages by translation: a message, an event stream, and an estimated count.
func TestOpenAIServesMessages(t *testing.T) {
	_, p := newSim(t, sim.Behaviour{Chunks: 3}, "")
	if p.Native() {
		t.Error("an OpenAI client says it speaks Messages natively")
	}
	req := messagesReq("hello")
	req.Model = "gpt-4o-mini"
	b, err := p.MessagesRaw(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckMessage(b); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	st, err := p.MessagesStream(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	evs := rawEvents(t, st)
	if len(evs) < 6 || evs[len(evs)-1] != `{"type":"message_stop"}` {
		t.Errorf("events %q", evs)
	}
	count, err := p.CountTokensRaw(ctxT(t), req)
	if err != nil || !strings.Contains(string(count), `"input_tokens":`) {
		t.Errorf("count %s (%v)", count, err)
	}
}

// TestAnthropicBounds: the Anthropic client inherits the transport's refusals — a redirect is
// not followed, an answer over max_response_bytes is not read, a stream that stops before
// message_stop is a truncation — each final, never a success.
func TestAnthropicBounds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		handle http.HandlerFunc
		call   func(p *Anthropic) error
		want   error
	}{
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.example/v1/messages", http.StatusTemporaryRedirect)
		},
			func(p *Anthropic) error { _, err := p.MessagesRaw(ctxT(t), messagesReq("x")); return err }, ErrRedirect},
		{"too large", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"type":"message","content":["`+strings.Repeat("x", 4096)+`"]}`)
		},
			func(p *Anthropic) error { _, err := p.MessagesRaw(ctxT(t), messagesReq("x")); return err }, ErrResponseTooLarge},
		{"stream without message_stop", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n")
		}, func(p *Anthropic) error {
			st, err := p.MessagesStream(ctxT(t), messagesReq("x"))
			if err != nil {
				return err
			}
			defer st.Close()
			for {
				if _, err := st.NextRaw(); err != nil {
					return err
				}
			}
		}, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handle)
			defer srv.Close()
			p := NewAnthropic(AnthropicConfig{Version: "2023-06-01", OpenAIConfig: OpenAIConfig{Name: "a", BaseURL: srv.URL, APIKey: "k",
				ConnectTimeout: time.Second, ResponseHeaderTimeout: 5 * time.Second, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute, MaxResponseBytes: 1024}})
			if err := tc.call(p); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// rawEvents reads a stream to its end and closes it.
func rawEvents(t *testing.T, st RawStream) []string {
	t.Helper()
	defer st.Close()
	var out []string
	for {
		b, err := st.NextRaw()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
}

// TestAnthropicStreamErrorEvent: Anthropic's `error` event mid-stream is the StatusError the
// same error type gets before a stream begins (overloaded 529, rate limit 429, timeout 504;
// anything else a 502), read as it arrives on both the native and the translated stream; the
// upstream's own message never comes through.
func TestAnthropicStreamErrorEvent(t *testing.T) {
	for _, tc := range []struct {
		typ    string
		status int
	}{
		{"overloaded_error", 529},
		{"rate_limit_error", http.StatusTooManyRequests},
		{"timeout_error", http.StatusGatewayTimeout},
		{"api_error", http.StatusBadGateway},
		{"invalid_request_error", http.StatusBadGateway},
		{"", http.StatusBadGateway},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","+
					"\"model\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"+
					"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\""+tc.typ+"\",\"message\":\"Overloaded at host-17 sk-ant-secret\"}}\n\n")
			}))
			defer srv.Close()
			p := newAnthropic(srv.URL, "sk-ant-secret", false)
			defer p.CloseIdle()
			check := func(what string, err error) {
				t.Helper()
				var se *StatusError
				if !errors.As(err, &se) || se.StatusCode != tc.status || strings.Contains(se.Detail.Message, "host-17") || strings.Contains(se.Detail.Message, "sk-ant") {
					t.Errorf("%s: %v (%+v), want a %d with the gateway's message", what, err, se, tc.status)
				}
			}
			raw, err := p.MessagesStream(ctxT(t), messagesReq("x"))
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.NextRaw(); err != nil {
				t.Fatalf("message_start: %v", err)
			}
			_, err = raw.NextRaw()
			check("messages stream", err)
			chat, err := p.ChatStream(ctxT(t), chatReq("x"))
			if err != nil {
				t.Fatal(err)
			}
			defer chat.Close()
			for err == nil {
				_, err = chat.Next()
			}
			check("chat stream", err)
		})
	}
}

// FuzzAnthropicStream reads any bytes as an Anthropic event stream: it ends cleanly only after
// message_stop, or as a cut (ConnError), or with an error event's StatusError of one of the
// statuses an Anthropic error type stands for — never another status, a panic or a hang.
func FuzzAnthropicStream(f *testing.F) {
	for _, s := range []string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\"}}\n\n",
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"timeout_error\"}}\n\n",
		"event: error\ndata: {\"type\":\"error\",\"error\":\"overloaded_error\"}\n\n",
		"event: error\ndata: not json\n\n",
		"data: {\"error\":{\"type\":\"api_error\"}}\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\"",
	} {
		f.Add([]byte(s))
	}
	statuses := []int{529, http.StatusTooManyRequests, http.StatusGatewayTimeout, http.StatusBadGateway}
	f.Fuzz(func(t *testing.T, in []byte) {
		body := io.NopCloser(bytes.NewReader(in))
		s := &sseStream{ctx: context.Background(), body: body, r: sse.NewReader(body), last: isMessageStop, errStatus: streamErrorStatus}
		var err error
		testkit.Bounded(t, 5*time.Second, func() {
			for n := 0; err == nil; n++ {
				if _, err = s.NextRaw(); err == nil && n > len(in) {
					err = errors.New("more events than input bytes")
				}
			}
		})
		var se *StatusError
		var ce *ConnError
		switch {
		case errors.As(err, &se):
			if !slices.Contains(statuses, se.StatusCode) || se.Detail.Message == "" {
				t.Fatalf("error event answered %d %q", se.StatusCode, se.Detail.Message)
			}
		case errors.As(err, &ce), errors.Is(err, io.EOF):
		default:
			t.Fatalf("stream ended with %T %v", err, err)
		}
	})
}
