package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"aiservice/harness/client"
	"aiservice/harness/launch"
)

// Streams have a budget of their own. At max_streams a new stream is shed at once — 429
// rate_limit_error/overloaded with Retry-After — while unary calls keep every in-flight slot
// (here a single one); once the held streams end, their slots serve new streams again.
func TestStreamCapUnderBurst(t *testing.T) {
	tn := defaultTune()
	tn.MaxInFlight, tn.MaxStreams = 1, 3
	tn.Stream, tn.Idle = 20*time.Second, 5*time.Second
	e := newEnv(t, setup{tune: tn})
	// Slow streams: each would take 10 s, so the held ones stay open for the whole scenario.
	e.setSim(launch.SimBehaviour{InterTokenDelay: "200ms", Chunks: 50})
	m0 := e.metrics()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var held []*client.Stream
	for i := range tn.MaxStreams {
		st, err := e.api.ChatStream(ctx, streamReq(fmt.Sprintf("held stream %d", i)))
		if err != nil {
			t.Fatalf("stream %d of %d: %v", i+1, tn.MaxStreams, err)
		}
		if _, err := st.Next(); err != nil {
			t.Fatalf("stream %d: first event: %v", i+1, err)
		}
		held = append(held, st)
	}

	start := time.Now()
	_, err := e.api.ChatStream(ctx, streamReq("one stream too many"))
	took := time.Since(start)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests || ae.Body.Error.Type != "rate_limit_error" ||
		ae.Body.Error.Code == nil || *ae.Body.Error.Code != "overloaded" || ae.Header.Get("Retry-After") == "" {
		t.Fatalf("a stream over max_streams: %v, want 429 rate_limit_error/overloaded with Retry-After", err)
	}
	// Shed, not queued: answered well before the held streams' next chunk could free a slot.
	within(t, "the shed stream's answer", took, 0, time.Second)

	// The held streams take no in-flight slot: the only one is free for a unary call.
	if r := e.chat(ctx, "gpt-4o-mini", "a unary call beside held streams"); r.Status != http.StatusOK {
		t.Fatalf("a unary call with %d streams held and max_in_flight 1: %v, want 200", tn.MaxStreams, r)
	}

	for _, st := range held {
		_ = st.Close()
	}
	eventually(t, 5*time.Second, "a new stream is admitted once the held ones ended", func() (bool, string) {
		st, err := e.api.ChatStream(ctx, streamReq("after the held streams"))
		if err != nil {
			return false, err.Error()
		}
		_ = st.Close()
		return true, ""
	})
	if d := e.metrics().value("load_shed_total", "route", "/v1/chat/stream") - m0.value("load_shed_total", "route", "/v1/chat/stream"); d < 1 {
		t.Errorf("load_shed_total{/v1/chat/stream} grew by %v, want at least 1", d)
	}
	t.Logf("max_streams %d: stream %d shed in %s; a unary call served beside them", tn.MaxStreams, tn.MaxStreams+1, took.Round(time.Millisecond))
}
