package api_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"aiservice/service/internal/sim"
	"aiservice/service/internal/sse"
)

// A client that has seen a stream end — `[DONE]` or an `event: error` — must find the request
// fully recorded: the handler and its middleware (cost, tokens, request metrics, SLO events,
// spans) have returned before the final event reaches the wire. Otherwise a scrape right after
// the end misses the request, and tests (or billing reconciliations) that read metrics after a
// stream race the gateway.
func TestStreamEndComesAfterTheRequestIsRecorded(t *testing.T) {
	const hello = `{"model":"%s","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello there"}]}`
	tests := []struct {
		name      string
		behaviour sim.Behaviour
		path      string
		body      string
		last      string // the final event's name ("" for [DONE])
	}{
		{"complete stream", sim.Behaviour{Chunks: 4}, "/v1/chat/stream", userHi, ""},
		{"stream cut by the upstream", sim.Behaviour{Chunks: 8, CutStreamAfter: 3}, "/v1/chat/stream", userHi, "error"},
		{"messages stream", sim.Behaviour{Chunks: 4}, "/v1/messages", fmt.Sprintf(hello, "claude-sonnet-4-5"), "message_stop"},
		{"messages stream translated", sim.Behaviour{Chunks: 4}, "/v1/messages", fmt.Sprintf(hello, "gpt-4o-mini"), "message_stop"},
		{"responses stream", sim.Behaviour{Chunks: 4}, "/v1/responses", `{"model":"gpt-4o-mini","stream":true,"input":"hello there"}`, "response.completed"},
		{"responses stream translated", sim.Behaviour{Chunks: 4}, "/v1/responses", `{"model":"claude-sonnet-4-5","stream":true,"input":"hello there"}`, "response.completed"},
		{"messages stream failing mid-way", sim.Behaviour{Chunks: 8, CutStreamAfter: 3}, "/v1/messages", fmt.Sprintf(hello, "claude-sonnet-4-5"), "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fastRetries+anthropicYAML)
			f.behave(tt.behaviour)
			var handled atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				f.app.Handler.ServeHTTP(w, r)
				handled.Add(1)
			}))
			defer srv.Close()
			// The race this guards against is narrow, so try it many times.
			for i := int64(1); i <= 25; i++ {
				resp, err := srv.Client().Post(srv.URL+tt.path, "application/json", strings.NewReader(tt.body))
				if err != nil {
					t.Fatal(err)
				}
				name := finalEvent(t, resp.Body)
				got := handled.Load()
				resp.Body.Close()
				if name != tt.last {
					t.Fatalf("stream %d ended with event %q, want %q", i, name, tt.last)
				}
				if got != i {
					t.Fatalf("stream %d: the client saw the end while the handler was still running (%d of %d requests handled)", i, got, i)
				}
			}
		})
	}
}

// finalEvent reads a stream up to its end and returns the final event's name.
func finalEvent(t *testing.T, body io.Reader) string {
	t.Helper()
	rd := sse.NewReader(body)
	for {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				t.Fatal("the stream ended without a final event")
			}
			t.Fatal(err)
		}
		if ev.Name == "error" || ev.Name == "message_stop" || ev.Name == "response.completed" || string(ev.Data) == string(sse.Done) {
			return ev.Name
		}
	}
}

// A client that reads slowly holds the handler in a write; that time is not the upstream going
// idle, so it must not trip the idle limit however long it lasts.
func TestSlowClientIsNotAnIdleUpstream(t *testing.T) {
	f := newFixture(t, `timeouts: {stream: 10s, stream_first_token: 150ms, stream_idle: 150ms}`)
	// ~400 KB of SSE, far more than the socket buffers between a reader that has stopped and
	// the handler.
	f.behave(sim.Behaviour{Chunks: 2000, OutputTokens: 30000})
	// Small socket buffers on both ends, so the handler's writes block soon after the reader stops.
	srv := httptest.NewUnstartedServer(f.app.Handler)
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	defer srv.Close()
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	resp, err := client.Post(srv.URL+"/v1/chat/stream", "application/json", strings.NewReader(userHi))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := sse.NewReader(resp.Body)
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // four idle limits without reading
	if n := f.metric(`http_requests_in_flight{route="/v1/chat/stream"}`); n != 1 {
		t.Fatalf("%v streams in flight after the pause: the handler was not held up by the slow reader, so this proves nothing", n)
	}
	chunks := 1
	for {
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("after %d chunks: %v", chunks, err)
		}
		if ev.Name == "error" {
			t.Fatalf("after %d chunks the stream ended with %s", chunks, ev.Data)
		}
		if string(ev.Data) == string(sse.Done) {
			break
		}
		chunks++
	}
	if chunks < 2000 {
		t.Errorf("%d chunks, want all 2000 and the usage chunk", chunks)
	}
}

// smallBuffers gives accepted connections a small, fixed send buffer (no autotuning).
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		err = errors.Join(err, tc.SetWriteBuffer(4096))
	}
	return c, err
}

// An upstream answer that is not valid JSON never reaches the client: before the first byte it
// is a 502, mid-stream an `event: error`. These bodies pass a lax scan (balanced brackets,
// well-placed keys) and are only caught by validating every byte.
func TestInvalidUpstreamJSONIsNotRelayed(t *testing.T) {
	chunk := func(content string) string {
		return `{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":` + content + `},"finish_reason":null}]}`
	}
	tests := []struct {
		name, path, body string // body: the upstream's whole answer
		stream           bool
	}{
		{"trailing comma", "/v1/chat", `{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"},],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`, false},
		{"bad escape", "/v1/chat", `{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"h\qi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`, false},
		{"bare word", "/v1/chat", `{"id":"x","model":m,"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`, false},
		{"first chunk", "/v1/chat/stream", "data: " + chunk(`"a`+"\x01"+`"`) + "\n\ndata: [DONE]\n\n", true},
		{"second chunk", "/v1/chat/stream", "data: " + chunk(`"a"`) + "\n\ndata: " + chunk(`tru`) + "\n\ndata: [DONE]\n\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.stream {
					w.Header().Set("Content-Type", "text/event-stream")
				} else {
					w.Header().Set("Content-Type", "application/json")
				}
				_, _ = io.WriteString(w, tt.body)
			}))
			defer up.Close()
			f := newFixture(t, `
providers: [{name: up, type: openai, base_url: `+up.URL+`}]
models: [{name: m, provider: up}]
default_model: m
agents: []
resilience: {max_retries: 0}`)
			r := f.post(tt.path, userHi)
			if tt.name == "second chunk" {
				evs := events(r.body)
				if r.status != 200 || len(evs) != 2 || evs[1][0] != "error" || !strings.Contains(evs[1][1], "upstream sent an invalid stream chunk") {
					t.Fatalf("status %d, events %q: want the first chunk then an error event", r.status, evs)
				}
				return
			}
			if r.status != http.StatusBadGateway || r.errType(t) != "upstream_error" {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
		})
	}
}

// Once the first chunk is in, the idle limit applies even when the first-token limit is much
// longer: a stream that then goes quiet ends one idle limit later, not at the first-token limit.
func TestIdleLimitAppliesAfterTheFirstChunk(t *testing.T) {
	f := newFixture(t, `timeouts: {stream: 10s, stream_first_token: 5s, stream_idle: 200ms}`)
	f.behave(sim.Behaviour{Chunks: 4, InterTokenDelay: sim.Duration(2 * time.Second)})
	r := f.post("/v1/chat/stream", userHi)
	evs := events(r.body)
	if last := evs[len(evs)-1]; r.status != 200 || last[0] != "error" || !strings.Contains(last[1], `"code":"stream_idle_timeout"`) {
		t.Fatalf("status %d, events %q: want an idle timeout event", r.status, evs)
	}
	within(t, "idle timeout", r.took, 200*time.Millisecond, 900*time.Millisecond)
}

// A stream's status is 200 once its first chunk is sent, but a stream that then ends with an
// `event: error` from the upstream or a time limit failed the client: the availability SLI
// counts it as bad, like the 5xx it would have been before the first byte.
func TestStreamsEndingInAnErrorAreBadForTheSLO(t *testing.T) {
	tests := []struct {
		name      string
		behaviour sim.Behaviour
		good, bad float64
	}{
		{"complete stream", sim.Behaviour{Chunks: 4}, 1, 0},
		{"cut by the upstream", sim.Behaviour{Chunks: 8, CutStreamAfter: 3}, 0, 1},
		{"upstream went idle", sim.Behaviour{Chunks: 4, InterTokenDelay: sim.Duration(time.Second)}, 0, 1},
	}
	const series = `slo_events_total{result="%s",route="/v1/chat/stream",route_group="chat",slo="availability"}`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "timeouts: {stream_idle: 150ms}\n"+fastRetries)
			f.behave(tt.behaviour)
			good0, bad0 := f.metric(fmt.Sprintf(series, "good")), f.metric(fmt.Sprintf(series, "bad"))
			if r := f.post("/v1/chat/stream", userHi); r.status != 200 {
				t.Fatalf("status %d", r.status)
			}
			good, bad := f.metric(fmt.Sprintf(series, "good"))-good0, f.metric(fmt.Sprintf(series, "bad"))-bad0
			if good != tt.good || bad != tt.bad {
				t.Fatalf("availability events: good +%v, bad +%v; want +%v, +%v", good, bad, tt.good, tt.bad)
			}
			if c := f.metric(`http_requests_total{code="200",method="POST",route="/v1/chat/stream"}`); c != 1 {
				t.Errorf("http_requests_total{code=200} = %v: the response itself was a 200", c)
			}
		})
	}
}
