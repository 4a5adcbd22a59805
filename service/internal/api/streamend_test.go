package api_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"aiservice/service/internal/sim"
	"aiservice/service/internal/sse"
)

// A client that has seen a stream end — `[DONE]` or an `event: error` — must find the request
// fully recorded: the handler and its middleware (cost, tokens, request metrics, SLO events,
// spans) have returned before the final event reaches the wire. Otherwise a scrape right after
// the end misses the request, and tests (or billing reconciliations) that read metrics after a
// stream race the gateway.
func TestStreamEndComesAfterTheRequestIsRecorded(t *testing.T) {
	tests := []struct {
		name      string
		behaviour sim.Behaviour
		last      string // the final event's name ("" for [DONE])
	}{
		{"complete stream", sim.Behaviour{Chunks: 4}, ""},
		{"stream cut by the upstream", sim.Behaviour{Chunks: 8, CutStreamAfter: 3}, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fastRetries)
			f.behave(tt.behaviour)
			var handled atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				f.app.Handler.ServeHTTP(w, r)
				handled.Add(1)
			}))
			defer srv.Close()
			// The race this guards against is narrow, so try it many times.
			for i := int64(1); i <= 25; i++ {
				resp, err := srv.Client().Post(srv.URL+"/v1/chat/stream", "application/json", strings.NewReader(userHi))
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
		if ev.Name == "error" || string(ev.Data) == string(sse.Done) {
			return ev.Name
		}
	}
}
