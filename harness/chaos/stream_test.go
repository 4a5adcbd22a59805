package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"aiservice/harness/client"
	"aiservice/harness/launch"
)

// streamShape is what a client can tell about a stream, chunk by chunk: the content deltas in
// order, the finish reasons, the final usage, and how it ended.
type streamShape struct {
	Deltas  []string
	Finish  []string
	Usage   client.Usage
	Done    bool
	ErrType string // type of the `event: error`, if the stream ended with one
}

func shapeOf(t *testing.T, evs []*client.Event) streamShape {
	t.Helper()
	var s streamShape
	for _, ev := range evs {
		switch {
		case ev.Done:
			s.Done = true
		case ev.Error != nil:
			s.ErrType = ev.Error.Error.Type
		case ev.Chunk != nil:
			for _, ch := range ev.Chunk.Choices {
				if ch.Delta.Content != "" {
					s.Deltas = append(s.Deltas, ch.Delta.Content)
				}
				if ch.FinishReason != nil {
					s.Finish = append(s.Finish, *ch.FinishReason)
				}
			}
			if ev.Chunk.Usage != nil {
				s.Usage = *ev.Chunk.Usage
			}
		default:
			t.Fatalf("unexpected event %q: %s", ev.Name, ev.Data)
		}
	}
	return s
}

// A slow or fragmented network on either hop must not change a stream: the same chunks, in
// the same order, the same usage and cost, and [DONE] — only later. At 3 KB/s each ~290-byte
// event needs about 100 ms on the wire, far inside the 500 ms first-token and idle limits, so
// a limit firing here means the gateway is not seeing bytes that did arrive.
func TestStreamThroughDegradedNetwork(t *testing.T) {
	sim := launch.SimBehaviour{Chunks: 16, OutputTokens: 128} // 16 chunks, ~4.5 KB of SSE, sent at once
	slicer := toxiclient.Attributes{"average_size": 16, "size_variation": 8, "delay": 1000}
	cases := []struct {
		name    string
		hop     string // "upstream" (service → sim) or "client" (client → service)
		typ     string
		attrs   toxiclient.Attributes
		atLeast time.Duration // the toxic must visibly slow the stream down
	}{
		{name: "upstream_bandwidth", hop: "upstream", typ: "bandwidth", attrs: toxiclient.Attributes{"rate": 3}, atLeast: time.Second},
		{name: "upstream_slicer", hop: "upstream", typ: "slicer", attrs: slicer, atLeast: 100 * time.Millisecond},
		{name: "client_bandwidth", hop: "client", typ: "bandwidth", attrs: toxiclient.Attributes{"rate": 3}, atLeast: time.Second},
		{name: "client_slicer", hop: "client", typ: "slicer", attrs: slicer, atLeast: 100 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tn := defaultTune()
			tn.Stream = 4 * time.Second // the route deadline must not be what ends a slow stream
			e := newEnv(t, setup{tune: tn})
			e.setSim(sim)
			req := streamReq("tell me a long story")
			ctx := context.Background()

			clean, cleanTook, err := e.collect(ctx, req)
			if err != nil {
				t.Fatalf("clean stream: %v", err)
			}
			want := shapeOf(t, clean)
			if !want.Done || len(want.Deltas) != sim.Chunks || want.ErrType != "" {
				t.Fatalf("clean stream is not complete: %+v", want)
			}

			p := e.up
			if tc.hop == "client" {
				p = e.down
			}
			e.toxic(p, tc.typ, tc.typ, "downstream", tc.attrs)
			evs, took, err := e.collect(ctx, req)
			if err != nil {
				t.Fatalf("stream under %s after %s: %v", tc.typ, took.Round(time.Millisecond), err)
			}
			got := shapeOf(t, evs)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("stream under %s differs from the clean one after %s:\n got %+v\nwant %+v%s", tc.typ, took.Round(time.Millisecond), got, want, errorEvent(evs))
			}
			if got.Usage.Estimated || got.Usage.CostUSD == nil {
				t.Errorf("usage %+v: want the upstream's exact, priced usage", got.Usage)
			}
			within(t, "the degraded stream", took, cleanTook+tc.atLeast, tn.Stream)
			t.Logf("%s: %d chunks identical, %s (clean %s)", tc.name, len(got.Deltas), took.Round(time.Millisecond), cleanTook.Round(time.Millisecond))
		})
	}
}

// errorEvent quotes a stream's error event, for failure messages.
func errorEvent(evs []*client.Event) string {
	for _, ev := range evs {
		if ev.Error != nil {
			return "\nerror event: " + string(ev.Data)
		}
	}
	return ""
}

// A stream cut mid-way on the upstream hop (limit_data closes the connection after N bytes)
// must end with an SSE `event: error` — never look like a finished stream — and the tokens
// that did flow must still be counted and priced (as an estimate).
func TestStreamCutMidway(t *testing.T) {
	e := newEnv(t, setup{})
	e.setSim(launch.SimBehaviour{Chunks: 8, OutputTokens: 200}) // ~370 bytes per chunk
	req := streamReq("a stream that will be cut")
	ctx := context.Background()
	clean, _, err := e.collect(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	full := client.StreamText(clean)

	labels := []string{"provider", "upstream", "model", "gpt-4o-mini"}
	m0 := e.metrics()
	// Enough for the response headers and about two chunks.
	e.toxic(e.up, "cut", "limit_data", "downstream", toxiclient.Attributes{"bytes": 1000})
	evs, took, err := e.collect(ctx, req)
	if err != nil {
		t.Fatalf("cut stream: %v", err)
	}
	got := shapeOf(t, evs)
	if got.Done {
		t.Fatal("a cut stream ended with [DONE]: the client cannot tell it from a complete one")
	}
	if got.ErrType != "upstream_error" {
		t.Fatalf("cut stream ended with error type %q, want an `event: error` of type upstream_error (events: %d)", got.ErrType, len(evs))
	}
	partial := client.StreamText(evs)
	if len(got.Deltas) == 0 || len(partial) >= len(full) || !strings.HasPrefix(full, partial) {
		t.Fatalf("partial text %q is not a strict, non-empty prefix of the full text %q", partial, full)
	}

	m1 := e.metrics()
	delta := func(name string, kv ...string) float64 { return m1.value(name, kv...) - m0.value(name, kv...) }
	if d := delta("cost_estimated_usage_total", labels...); d != 1 {
		t.Errorf("cost_estimated_usage_total grew by %v, want 1 (the cut stream's usage is an estimate)", d)
	}
	// The gateway estimates output tokens as ceil(runes/4) of what it relayed.
	wantOut := float64((utf8.RuneCountInString(partial) + 3) / 4)
	if d := delta("cost_provider_tokens_total", append(labels, "type", "output")...); d != wantOut {
		t.Errorf("output tokens grew by %v, want %v (estimated from the %d runes relayed)", d, wantOut, utf8.RuneCountInString(partial))
	}
	if d := delta("cost_provider_tokens_total", append(labels, "type", "input")...); d <= 0 {
		t.Errorf("input tokens grew by %v, want > 0", d)
	}
	if d := delta("cost_request_cost_usd_count", "route", "/v1/chat/stream", "provider", "upstream", "model", "gpt-4o-mini"); d != 1 {
		t.Errorf("cost_request_cost_usd_count grew by %v, want 1 (the cut stream is priced)", d)
	}
	t.Logf("cut after %d of %d chunks in %s: `event: error` %s; %v output tokens estimated and priced",
		len(got.Deltas), len(shapeOf(t, clean).Deltas), took.Round(time.Millisecond), got.ErrType, wantOut)
}

// An upstream that stops sending — before its first token, or mid-stream (a timeout toxic
// swallows everything after the first chunks) — is ended by the stream's own limits, not the
// much longer route deadline, about one limit after the last byte, with a timeout whose code
// says which limit fired. Before the first byte that is a plain 504; after it, an SSE
// `event: error`.
func TestStreamUpstreamStalls(t *testing.T) {
	cases := []struct {
		name string
		sim  launch.SimBehaviour
		// stall starts the stall after the client has read `after` chunks (nil: the simulator
		// itself stalls before the first token).
		stall func(e *env)
		after int
		code  string
	}{
		{name: "before_first_token", sim: launch.SimBehaviour{Chunks: 8, TimeToFirstToken: "3s"}, code: "first_token_timeout"},
		{name: "mid_stream", sim: launch.SimBehaviour{Chunks: 16, InterTokenDelay: "20ms"}, after: 2, code: "stream_idle_timeout",
			stall: func(e *env) {
				e.toxic(e.up, "stall", "timeout", "downstream", toxiclient.Attributes{"timeout": 0})
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, setup{})
			e.setSim(tc.sim)
			m0, sim0 := e.metrics(), e.simStats()
			start := time.Now()
			st, err := e.api.ChatStream(context.Background(), streamReq("then silence"))
			var typ, code, msg string
			var took time.Duration
			limit := e.tune.FirstToken
			if tc.stall == nil {
				// Nothing was sent yet: the client must get an ordinary JSON error.
				took = time.Since(start)
				var ae *client.APIError
				if !errors.As(err, &ae) || ae.Status != http.StatusGatewayTimeout {
					t.Fatalf("stream that never started: got %v, want a 504", err)
				}
				typ, msg = ae.Body.Error.Type, ae.Body.Error.Message
				if ae.Body.Error.Code != nil {
					code = *ae.Body.Error.Code
				}
				// The gateway gave up on the upstream call; it must not be left running.
				eventually(t, time.Second, "the stalled upstream call is canceled", func() (bool, string) {
					s := e.simStats()
					return s.Canceled-sim0.Canceled == 1, fmt.Sprintf("%+v", s)
				})
			} else {
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				for i := 0; i < tc.after; i++ {
					if ev, err := st.Next(); err != nil || ev.Chunk == nil {
						t.Fatalf("chunk %d: %v %+v", i, err, ev)
					}
				}
				tc.stall(e)
				limit = e.tune.Idle
				stalled := time.Now()
				var last *client.Event
				for {
					ev, err := st.Next()
					if err != nil {
						t.Fatalf("stream ended without an error event: %v (last event %+v)", err, last)
					}
					last = ev
					if ev.Done || ev.Error != nil {
						break
					}
				}
				took = time.Since(stalled)
				if last.Error == nil {
					t.Fatalf("stalled stream ended with [DONE], want an `event: error`")
				}
				typ, msg = last.Error.Error.Type, last.Error.Error.Message
				if last.Error.Error.Code != nil {
					code = *last.Error.Error.Code
				}
			}
			if typ != "timeout" || code != tc.code {
				t.Errorf("error %s/%s (%q), want timeout/%s", typ, code, msg, tc.code)
			}
			within(t, "the error after the stall", took, limit-50*time.Millisecond, limit+400*time.Millisecond)
			if d := e.metrics().value("http_request_timeouts_total", "route", "/v1/chat/stream") -
				m0.value("http_request_timeouts_total", "route", "/v1/chat/stream"); d != 1 {
				t.Errorf("http_request_timeouts_total{/v1/chat/stream} grew by %v, want 1", d)
			}
			t.Logf("%s: timeout/%s %s after the stall (limit %s; stream deadline %s)",
				tc.name, code, took.Round(time.Millisecond), limit, e.tune.Stream)
		})
	}
}
