package shutdown

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serve starts h on a loopback port and returns the server and its URL.
func serve(t *testing.T, h http.Handler) (*http.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv, "http://" + ln.Addr().String()
}

func TestDrainsInFlightRequests(t *testing.T) {
	started := make(chan struct{})
	srv, url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(200 * time.Millisecond) // a request that needs a moment to finish
		_, _ = io.WriteString(w, "done")
	}))
	got := getAsync(url)
	<-started

	var ready atomic.Bool
	ready.Store(true)
	var ended, flushed atomic.Bool
	flushErr := errors.New("exporter down")
	start := time.Now()
	err := Plan{
		Server: srv, Ready: &ready, PreDrainDelay: 50 * time.Millisecond, GracePeriod: 5 * time.Second,
		EndRemaining: func() { ended.Store(true) },
		Flush: []func(context.Context) error{
			func(ctx context.Context) error {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("flush without a deadline")
				}
				flushed.Store(true)
				return nil
			},
			func(context.Context) error { return flushErr },
		},
		Log: slog.New(slog.DiscardHandler),
	}.Run(nil)
	took := time.Since(start)

	if !errors.Is(err, flushErr) {
		t.Errorf("Run = %v, want the flush error reported", err)
	}
	if ready.Load() {
		t.Error("readiness still on")
	}
	if body := <-got; body != "done" {
		t.Errorf("the in-flight request got %q, want it to finish", body)
	}
	if ended.Load() {
		t.Error("EndRemaining called though every request finished in the grace period")
	}
	if !flushed.Load() {
		t.Error("telemetry not flushed")
	}
	if took < 200*time.Millisecond || took > 3*time.Second {
		t.Errorf("drain took %v, want about the request's 200ms", took)
	}
	// New connections are refused once drained.
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Error("the server still accepts requests after shutdown")
	}
}

func TestGracePeriodEndsRemaining(t *testing.T) {
	base, endAll := context.WithCancelCause(context.Background())
	defer endAll(nil)
	started := make(chan struct{})
	srv, url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select { // a stream that never ends by itself
		case <-base.Done():
			_, _ = io.WriteString(w, "shutdown")
		case <-r.Context().Done():
		}
	}))
	got := getAsync(url)
	<-started
	var ready atomic.Bool
	start := time.Now()
	err := Plan{
		Server: srv, Ready: &ready, GracePeriod: 150 * time.Millisecond,
		EndRemaining: func() { endAll(errors.New("shutdown")) },
		Log:          slog.New(slog.DiscardHandler),
	}.Run(nil)
	took := time.Since(start)
	if err != nil {
		t.Errorf("Run = %v; a grace period that ran out is not an error once the rest was ended", err)
	}
	if body := <-got; body != "shutdown" {
		t.Errorf("the remaining request got %q, want its shutdown answer", body)
	}
	if took < 150*time.Millisecond || took > 3*time.Second {
		t.Errorf("took %v, want about the 150ms grace period", took)
	}
}

func TestSecondSignalForces(t *testing.T) {
	for _, tc := range []struct {
		name     string
		preDrain time.Duration
	}{
		{"during the pre-drain delay", time.Minute},
		{"during the drain", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan struct{})
			srv, url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				<-r.Context().Done()
			}))
			go func() {
				if resp, err := http.Get(url); err == nil {
					resp.Body.Close()
				}
			}()
			<-started
			var ready atomic.Bool
			var ended atomic.Bool
			force := make(chan struct{})
			time.AfterFunc(100*time.Millisecond, func() { close(force) })
			start := time.Now()
			err := Plan{
				Server: srv, Ready: &ready, PreDrainDelay: tc.preDrain, GracePeriod: time.Minute,
				EndRemaining: func() { ended.Store(true) },
				Log:          slog.New(slog.DiscardHandler),
			}.Run(force)
			if !errors.Is(err, ErrForced) {
				t.Fatalf("Run = %v, want ErrForced", err)
			}
			if !ended.Load() {
				t.Error("remaining requests not ended")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("forced exit took %v", d)
			}
		})
	}
}

func TestLogsPhases(t *testing.T) {
	var buf strings.Builder
	srv, _ := serve(t, http.NotFoundHandler())
	var ready atomic.Bool
	if err := (Plan{Server: srv, Ready: &ready, GracePeriod: time.Second, EndRemaining: func() {},
		Log: slog.New(slog.NewTextHandler(&buf, nil))}).Run(nil); err != nil {
		t.Fatal(err)
	}
	for _, phase := range []string{"phase=readiness", "phase=drain", "phase=flush", "phase=done"} {
		if !strings.Contains(buf.String(), phase) {
			t.Errorf("log lacks %s:\n%s", phase, buf.String())
		}
	}
}

// getAsync GETs url in the background and delivers the body (or the error's text).
func getAsync(url string) <-chan string {
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	return got
}
