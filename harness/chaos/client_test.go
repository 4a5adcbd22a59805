package chaos

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"aiservice/harness/launch"
)

// Faults on the client hop: client → proxy "client" → service.

// A client that goes away mid-stream — it gives up, its network path drops, or the connection
// is reset — must cancel the upstream call at once (the simulator counts it as canceled, not
// completed), the partial stream must still be costed, and nothing may be left running.
func TestClientDisconnectMidStream(t *testing.T) {
	cases := []struct {
		name string
		// cut ends the client's side of the stream after it read the first chunks.
		cut func(e *env, cancel context.CancelFunc)
	}{
		{name: "client_gives_up", cut: func(_ *env, cancel context.CancelFunc) { cancel() }},
		{name: "client_path_down", cut: func(e *env, _ context.CancelFunc) {
			if err := e.down.Disable(); err != nil {
				e.t.Fatal(err)
			}
		}},
		{name: "client_reset_peer", cut: func(e *env, _ context.CancelFunc) {
			// The next bytes the service sends towards the client trigger an RST.
			e.toxic(e.down, "rst", "reset_peer", "downstream", toxiclient.Attributes{"timeout": 0})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tn := defaultTune()
			tn.Stream = 5 * time.Second // the stream must outlive the scenario
			e := newEnv(t, setup{tune: tn})
			// 30 chunks 50 ms apart: ~1.5 s of stream, far from done when the client leaves.
			e.setSim(launch.SimBehaviour{Chunks: 30, OutputTokens: 120, InterTokenDelay: "50ms"})
			labels := []string{"provider", "upstream", "model", "gpt-4o-mini"}
			sim0, m0 := e.simStats(), e.metrics()

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, err := e.api.ChatStream(ctx, streamReq("a long answer nobody will read"))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				if ev, err := st.Next(); err != nil || ev.Chunk == nil {
					t.Fatalf("chunk %d: %v %+v", i, err, ev)
				}
			}
			if s := e.simStats(); s.InFlight != 1 {
				t.Fatalf("simulator has %d requests in flight mid-stream, want 1", s.InFlight)
			}
			tc.cut(e, cancel)
			// Whatever the client side sees now, it must not be a clean end.
			drained := make(chan bool, 1)
			go func() {
				defer st.Close()
				for {
					ev, err := st.Next()
					if err != nil || ev.Done {
						drained <- err == nil && ev.Done
						return
					}
				}
			}()
			defer func() {
				select {
				case done := <-drained:
					if done {
						t.Errorf("the client saw [DONE] after its connection was cut")
					}
				case <-time.After(5 * time.Second):
					t.Errorf("the client's read did not end within 5s of the cut")
				}
			}()

			took := eventually(t, 2*time.Second, "the simulator sees the upstream call canceled", func() (bool, string) {
				s := e.simStats()
				return s.Canceled-sim0.Canceled == 1 && s.InFlight == 0, fmt.Sprintf("%+v", s)
			})
			if s := e.simStats(); s.Completed != sim0.Completed {
				t.Errorf("the simulator completed %d streams nobody was reading", s.Completed-sim0.Completed)
			}
			eventually(t, 2*time.Second, "the partial stream is costed and the request leaves the in-flight gauge", func() (bool, string) {
				m := e.metrics()
				est := m.value("cost_estimated_usage_total", labels...) - m0.value("cost_estimated_usage_total", labels...)
				inflight := m.value("http_requests_in_flight", "route", "/v1/chat/stream")
				return est == 1 && inflight == 0, fmt.Sprintf("estimated usage +%v, in flight %v", est, inflight)
			})
			// No goroutine or connection outlives the abandoned stream.
			now, settled := e.waitNoLeak("after the disconnect")
			t.Logf("%s: upstream call canceled %s after the cut; goroutines %v (baseline %v), fds %v (baseline %v) %s after the cut",
				tc.name, took.Round(time.Millisecond), now.Goroutines, e.base.Goroutines, now.FDs, e.base.FDs, (took + settled).Round(time.Millisecond))
		})
	}
}

// A client reading a stream slowly (a bandwidth toxic between it and the service) must be
// served with bounded memory: the service relays chunk by chunk instead of buffering the
// upstream's answer for the slow reader.
func TestSlowClientBoundedMemory(t *testing.T) {
	tn := defaultTune()
	tn.Stream = 10 * time.Second
	e := newEnv(t, setup{tune: tn})
	// ~25 KB of text in 250 chunks per stream (~75 KB of SSE).
	e.setSim(launch.SimBehaviour{Chunks: 250, OutputTokens: 4000})
	const streams = 4
	const rateKB = 64

	e.toxic(e.down, "slow_reader", "bandwidth", "downstream", toxiclient.Attributes{"rate": rateKB})
	stopWatch := e.rssWatch()
	start := time.Now()
	results := make([]streamShape, streams)
	errs := make([]error, streams)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs, _, err := e.collect(context.Background(), streamReq(fmt.Sprintf("slow reader %d", i)))
			errs[i] = err
			if err == nil {
				results[i] = shapeOf(t, evs)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	maxRSS, err := stopWatch()
	if err != nil {
		t.Fatal(err)
	}

	for i := range streams {
		if errs[i] != nil {
			t.Errorf("stream %d: %v", i, errs[i])
			continue
		}
		if r := results[i]; !r.Done || r.ErrType != "" || len(r.Deltas) != 250 {
			t.Errorf("stream %d to a slow reader: %d chunks, done %v, error %q; want 250 chunks and [DONE]", i, len(r.Deltas), r.Done, r.ErrType)
		}
	}
	// The toxic did hold the readers back: ~75 KB each at 64 KB/s.
	if took < time.Second {
		t.Errorf("the slow readers finished in %s: the bandwidth toxic did not slow them down", took)
	}
	// Bound: the baseline plus 32 MiB — far below what buffering every stream would cost on top
	// of a Go heap that has not been collected yet, and well above the noise of a few requests.
	bound := e.base.RSS + 32<<20
	if maxRSS > bound {
		t.Errorf("peak RSS %.1f MiB while serving %d slow readers, want <= %.1f MiB", maxRSS/(1<<20), streams, bound/(1<<20))
	}
	t.Logf("%d streams at %d KB/s each took %s; peak RSS %.1f MiB (baseline %.1f MiB)", streams, rateKB, took.Round(time.Millisecond),
		maxRSS/(1<<20), e.base.RSS/(1<<20))
}
