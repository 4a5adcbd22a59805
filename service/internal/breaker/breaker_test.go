package breaker

import (
	"sync"
	"testing"
	"time"
)

// clock is a manual clock: the breaker's cooldown is tested without sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type transition struct{ from, to State }

// newTest builds a breaker on a manual clock that records its transitions.
func newTest(failures int, cooldown time.Duration) (*Breaker, *clock, *[]transition) {
	clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	log := &[]transition{}
	b := New(failures, cooldown, func(from, to State) {
		mu.Lock()
		*log = append(*log, transition{from, to})
		mu.Unlock()
	})
	b.now = clk.now
	return b, clk, log
}

func TestOpensAfterConsecutiveFailures(t *testing.T) {
	b, _, log := newTest(3, time.Second)
	for i := range 2 {
		if !b.Allow() {
			t.Fatalf("call %d refused while closed", i)
		}
		b.Done(false)
	}
	if b.State() != Closed {
		t.Fatalf("state after 2 of 3 failures = %v, want closed", b.State())
	}
	// A success resets the count: two more failures still do not open it.
	b.Allow()
	b.Done(true)
	for range 2 {
		b.Allow()
		b.Done(false)
	}
	if b.State() != Closed {
		t.Fatalf("a success must reset the failure count; state = %v", b.State())
	}
	b.Allow()
	b.Done(false)
	if b.State() != Open {
		t.Fatalf("state after 3 consecutive failures = %v, want open", b.State())
	}
	if len(*log) != 1 || (*log)[0] != (transition{Closed, Open}) {
		t.Fatalf("transitions = %v, want [closed→open]", *log)
	}
}

func TestOpenFailsFastUntilCooldown(t *testing.T) {
	b, clk, _ := newTest(1, 10*time.Second)
	b.Allow()
	b.Done(false)
	if got := b.RetryIn(); got != 10*time.Second {
		t.Fatalf("RetryIn right after opening = %v, want 10s", got)
	}
	clk.advance(4 * time.Second)
	for range 3 {
		if b.Allow() {
			t.Fatal("open breaker let a call through before its cooldown")
		}
	}
	if got := b.RetryIn(); got != 6*time.Second {
		t.Fatalf("RetryIn after 4s = %v, want 6s", got)
	}
	clk.advance(7 * time.Second)
	if got := b.RetryIn(); got != 0 {
		t.Fatalf("RetryIn after the cooldown = %v, want 0", got)
	}
	if b.State() != Open {
		t.Fatalf("state before the next Allow = %v, want still open", b.State())
	}
}

func TestHalfOpenSingleProbe(t *testing.T) {
	for _, tc := range []struct {
		name       string
		probeOK    bool
		wantState  State
		wantLog    []transition
		allowAfter bool
	}{
		{"probe success closes", true, Closed,
			[]transition{{Closed, Open}, {Open, HalfOpen}, {HalfOpen, Closed}}, true},
		{"probe failure reopens", false, Open,
			[]transition{{Closed, Open}, {Open, HalfOpen}, {HalfOpen, Open}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, clk, log := newTest(2, time.Second)
			for range 2 {
				b.Allow()
				b.Done(false)
			}
			clk.advance(time.Second)
			if !b.Allow() {
				t.Fatal("no probe after the cooldown")
			}
			if b.State() != HalfOpen {
				t.Fatalf("state during the probe = %v, want half_open", b.State())
			}
			// Only one probe at a time: concurrent callers fail fast.
			var wg sync.WaitGroup
			var mu sync.Mutex
			extra := 0
			for range 8 {
				wg.Go(func() {
					if b.Allow() {
						mu.Lock()
						extra++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if extra != 0 {
				t.Fatalf("%d extra calls allowed while a probe is in flight", extra)
			}
			b.Done(tc.probeOK)
			if b.State() != tc.wantState {
				t.Fatalf("state after the probe = %v, want %v", b.State(), tc.wantState)
			}
			if got := b.Allow(); got != tc.allowAfter {
				t.Fatalf("Allow right after the probe = %v, want %v", got, tc.allowAfter)
			}
			if len(*log) != len(tc.wantLog) {
				t.Fatalf("transitions = %v, want %v", *log, tc.wantLog)
			}
			for i := range tc.wantLog {
				if (*log)[i] != tc.wantLog[i] {
					t.Fatalf("transitions = %v, want %v", *log, tc.wantLog)
				}
			}
			if !tc.probeOK {
				// The reopened breaker waits a full cooldown from the failed probe.
				if got := b.RetryIn(); got != time.Second {
					t.Fatalf("RetryIn after a failed probe = %v, want 1s", got)
				}
			}
		})
	}
}

func TestReleaseFreesTheProbeSlot(t *testing.T) {
	b, clk, _ := newTest(1, time.Second)
	b.Allow()
	b.Done(false)
	clk.advance(time.Second)
	if !b.Allow() {
		t.Fatal("no probe after the cooldown")
	}
	if b.Allow() {
		t.Fatal("a second probe was allowed")
	}
	// The probe's caller went away: no verdict, but the next caller may probe.
	b.Release()
	if b.State() != HalfOpen {
		t.Fatalf("Release changed the state to %v", b.State())
	}
	if !b.Allow() {
		t.Fatal("no probe after Release")
	}
	b.Done(true)
	if b.State() != Closed {
		t.Fatalf("state = %v, want closed", b.State())
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Closed: "closed", HalfOpen: "half_open", Open: "open"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
	// The gauge values are part of the dashboards' contract.
	if Closed != 0 || HalfOpen != 1 || Open != 2 {
		t.Errorf("state values changed: closed=%d half_open=%d open=%d", Closed, HalfOpen, Open)
	}
}
