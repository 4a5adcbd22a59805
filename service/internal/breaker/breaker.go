// Package breaker is a circuit breaker: closed → open after consecutive failures → half-open
// after a cooldown, where one probe decides between closed and open again.
package breaker

import (
	"sync"
	"time"
)

// State is a breaker state; its value is what the circuit_breaker_state gauge shows.
type State int

// The states.
const (
	Closed   State = 0
	HalfOpen State = 1
	Open     State = 2
)

func (s State) String() string {
	switch s {
	case HalfOpen:
		return "half_open"
	case Open:
		return "open"
	}
	return "closed"
}

// Breaker guards one upstream (provider × model).
type Breaker struct {
	failures int
	cooldown time.Duration
	now      func() time.Time
	onChange func(from, to State)

	mu          sync.Mutex
	state       State
	consecutive int
	openedAt    time.Time
	probing     bool
}

// New builds a breaker that opens after `failures` consecutive failures and probes after
// `cooldown`. onChange, if set, is called (outside the lock) on every transition.
func New(failures int, cooldown time.Duration, onChange func(from, to State)) *Breaker {
	return &Breaker{failures: failures, cooldown: cooldown, now: time.Now, onChange: onChange}
}

// Allow reports whether a call may go ahead. In half-open state only one probe is let through
// at a time; the caller must report its result with Done.
func (b *Breaker) Allow() bool {
	b.mu.Lock()
	var from, to State
	changed := false
	allowed := true
	switch b.state {
	case Open:
		if b.now().Sub(b.openedAt) < b.cooldown {
			allowed = false
			break
		}
		from, to, changed = Open, HalfOpen, true
		b.state = HalfOpen
		b.probing = true
	case HalfOpen:
		if b.probing {
			allowed = false
		} else {
			b.probing = true
		}
	}
	b.mu.Unlock()
	if changed && b.onChange != nil {
		b.onChange(from, to)
	}
	return allowed
}

// Done reports the result of an allowed call. Only failures of the upstream itself should be
// reported as failures (not the caller's 4xx, not a client that went away).
func (b *Breaker) Done(success bool) {
	b.mu.Lock()
	from := b.state
	switch {
	case success:
		b.consecutive = 0
		b.state = Closed
	case b.state == HalfOpen:
		b.state = Open
		b.openedAt = b.now()
	default:
		b.consecutive++
		if b.consecutive >= b.failures {
			b.state = Open
			b.openedAt = b.now()
		}
	}
	b.probing = false
	to := b.state
	b.mu.Unlock()
	if from != to && b.onChange != nil {
		b.onChange(from, to)
	}
}

// Release gives back a probe slot when an allowed call ended without a verdict (canceled).
func (b *Breaker) Release() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// State is the current state (an open breaker whose cooldown passed still reads Open until
// the next Allow).
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// RetryIn is how long until an open breaker lets a probe through.
func (b *Breaker) RetryIn() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != Open {
		return 0
	}
	return max(b.cooldown-b.now().Sub(b.openedAt), 0)
}
