package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// silent accepts connections and never answers: a store slower than any timeout.
func silent(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	return ln.Addr().String()
}

func guarded(t *testing.T, addr string, mode Mode) (*Guarded, *prometheus.Registry) {
	r, err := NewRedis("redis://"+addr, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	reg := prometheus.NewRegistry()
	return NewGuarded(r, GuardOptions{Timeout: 50 * time.Millisecond, Mode: mode, Replicas: 3, BreakerFailures: 2,
		BreakerCooldown: time.Hour, Registry: reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: time.Now}), reg
}

func TestGuardedFailureModes(t *testing.T) {
	addr := silent(t)
	lim := Limits{RPM: 6} // a replica's share of three: 2
	for _, tc := range []struct {
		name     string
		mode     Mode
		admitted int
		decision string
	}{
		{"fail_open admits the local share", FailOpen, 2, "fail_open"},
		{"fail_closed refuses", FailClosed, 0, "fail_closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, reg := guarded(t, addr, tc.mode)
			admitted := 0
			for range 5 {
				start := time.Now()
				v, err := g.Reserve(context.Background(), Reservation{Key: "k", Limits: lim, Now: time.Now()})
				if took := time.Since(start); took > time.Second {
					t.Fatalf("a reservation took %v past a 50ms store timeout", took)
				}
				switch {
				case err != nil && !errors.Is(err, ErrUnavailable):
					t.Fatal(err)
				case err == nil && v.Denied == Admitted:
					if !v.Local {
						t.Fatal("admitted by a store that never answers")
					}
					admitted++
				}
			}
			if admitted != tc.admitted {
				t.Fatalf("admitted %d, want %d", admitted, tc.admitted)
			}
			if n := testutil.ToFloat64(g.m.decisions.WithLabelValues(tc.decision)); n != 5 {
				t.Fatalf("%s decisions: %v, want 5", tc.decision, n)
			}
			if s := testutil.ToFloat64(g.m.state); s != 2 {
				t.Fatalf("breaker state %v after failures, want open (2)", s)
			}
			_ = reg
		})
	}
}

func TestGuardedSettlesWhereReserved(t *testing.T) {
	g, _ := guarded(t, silent(t), FailOpen)
	ctx := context.Background()
	r := Reservation{Key: "k", Limits: Limits{MaxParallel: 3}, Now: time.Now()}
	v, err := g.Reserve(ctx, r)
	if err != nil || v.Denied != Admitted || !v.Local {
		t.Fatalf("%+v %v", v, err)
	}
	if v, _ := g.Reserve(ctx, r); v.Denied != Parallel {
		t.Fatalf("the local share of 3 parallel over 3 replicas is 1; got %+v", v)
	}
	if err := g.Settle(ctx, Settlement{Reservation: r, Local: true}); err != nil {
		t.Fatal(err)
	}
	if v, _ := g.Reserve(ctx, r); v.Denied != Admitted {
		t.Fatalf("the settled slot did not come back: %+v", v)
	}
}

func TestGuardedCallerGoneIsNoStoreFailure(t *testing.T) {
	g, _ := guarded(t, silent(t), FailClosed)
	for range 5 { // more than breaker_failures
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := g.Reserve(ctx, Reservation{Key: "k", Limits: Limits{RPM: 1}, Now: time.Now()}); err == nil {
			t.Fatal("a reservation of a request that ended succeeded")
		}
	}
	if s := testutil.ToFloat64(g.m.state); s != 0 {
		t.Fatalf("requests that ended opened the store's breaker (state %v)", s)
	}
}
