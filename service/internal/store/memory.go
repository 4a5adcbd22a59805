package store

import (
	"context"
	"sync"
	"time"
)

// Memory is the in-process store: the default, for one replica, and the local fallback of
// Guarded. Its limiter has exactly the semantics of the Redis script (gcra, budgets).
type Memory struct {
	mu    sync.Mutex
	keys  map[string]*keyState
	bytes map[string]entry
	clock func() time.Time // for the bytes' expiry
}

type keyState struct {
	reqTAT, tokTAT time.Time
	parallel       int64
	day, month     string // the periods the spends below belong to
	daySpent       int64
	monthSpent     int64
}

type entry struct {
	v       []byte
	expires time.Time
}

// NewMemory makes an empty in-process store; clock is time.Now outside tests.
func NewMemory(clock func() time.Time) *Memory {
	return &Memory{keys: map[string]*keyState{}, bytes: map[string]entry{}, clock: clock}
}

// Reserve admits r when every limit has room, and then takes from all of them at once.
func (m *Memory) Reserve(_ context.Context, r Reservation) (Verdict, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(r.Key, periodOf(r.Now))
	l := r.Limits
	v := Verdict{RemainingDailyNanoUSD: -1, RemainingMonthlyNanoUSD: -1}
	req := gcra{tat: st.reqTAT, limit: l.RPM, now: r.Now}
	tok := gcra{tat: st.tokTAT, limit: l.TPM, now: r.Now}
	p := periodOf(r.Now)
	switch {
	case l.MaxParallel > 0 && st.parallel >= l.MaxParallel:
		v.Denied, v.RetryAfter = Parallel, time.Second
	case !req.fits(1):
		v.Denied, v.RetryAfter = Requests, req.wait(1)
	case !tok.fits(r.Tokens):
		v.Denied, v.RetryAfter = Tokens, tok.wait(r.Tokens)
	case l.DailyNanoUSD > 0 && st.daySpent+r.NanoUSD > l.DailyNanoUSD:
		v.Denied, v.RetryAfter = DailyBudget, p.dayEnd.Sub(r.Now)
	case l.MonthlyNanoUSD > 0 && st.monthSpent+r.NanoUSD > l.MonthlyNanoUSD:
		v.Denied, v.RetryAfter = MonthlyBudget, p.monthEnd.Sub(r.Now)
	default:
		st.reqTAT, st.tokTAT = req.take(1), tok.take(r.Tokens)
		req.tat, tok.tat = st.reqTAT, st.tokTAT
		st.parallel++
		st.daySpent += r.NanoUSD
		st.monthSpent += r.NanoUSD
	}
	v.RemainingRequests, v.ResetRequests = req.remaining(), req.reset()
	v.RemainingTokens, v.ResetTokens = tok.remaining(), tok.reset()
	if l.DailyNanoUSD > 0 {
		v.RemainingDailyNanoUSD = max(l.DailyNanoUSD-st.daySpent, 0)
	}
	if l.MonthlyNanoUSD > 0 {
		v.RemainingMonthlyNanoUSD = max(l.MonthlyNanoUSD-st.monthSpent, 0)
	}
	return v, nil
}

// Settle corrects the reservation's tokens and USD to the actual ones and frees its slot.
func (m *Memory) Settle(_ context.Context, s Settlement) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(s.Key, periodOf(s.Now))
	if s.Limits.TPM > 0 {
		st.tokTAT = st.tokTAT.Add(time.Duration(s.Tokens-s.Reservation.Tokens) * interval(s.Limits.TPM))
	}
	p := periodOf(s.Reservation.Now) // the spend belongs to the period it was reserved in
	if p.day == st.day {
		st.daySpent = max(st.daySpent+s.NanoUSD-s.Reservation.NanoUSD, 0)
	}
	if p.month == st.month {
		st.monthSpent = max(st.monthSpent+s.NanoUSD-s.Reservation.NanoUSD, 0)
	}
	st.parallel = max(st.parallel-1, 0)
	return nil
}

// state is a key's state, its budgets started afresh when a period ended.
func (m *Memory) state(key string, p period) *keyState {
	st, ok := m.keys[key]
	if !ok {
		st = &keyState{}
		m.keys[key] = st
	}
	if st.day != p.day {
		st.day, st.daySpent = p.day, 0
	}
	if st.month != p.month {
		st.month, st.monthSpent = p.month, 0
	}
	return st
}

// Get returns a value that has not expired.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.bytes[key]
	if !ok || !m.clock().Before(e.expires) {
		delete(m.bytes, key)
		return nil, false, nil
	}
	return e.v, true, nil
}

// Set stores a copy of value until ttl passed; expired entries are swept as the map grows.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	if len(m.bytes) >= 1024 && len(m.bytes)&(len(m.bytes)-1) == 0 { // at each power of two
		for k, e := range m.bytes {
			if !now.Before(e.expires) {
				delete(m.bytes, k)
			}
		}
	}
	m.bytes[key] = entry{v: append([]byte(nil), value...), expires: now.Add(ttl)}
	return nil
}

// Delete removes a value.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.bytes, key)
	return nil
}

// gcra is the generic cell rate algorithm over one minute: a limit of L per minute emits one
// unit every minute/L and lets a key burst up to L at once. tat is the theoretical arrival
// time: the moment the key would be back to a full allowance.
type gcra struct {
	tat   time.Time
	limit int64
	now   time.Time
}

// interval is at least a nanosecond: config bounds limits to 1e9 a minute (60 ns a unit).
func interval(limit int64) time.Duration { return max(window/time.Duration(limit), 1) }

func (g gcra) base() time.Time {
	if g.tat.Before(g.now) {
		return g.now
	}
	return g.tat
}

// fits reports whether n units fit now.
func (g gcra) fits(n int64) bool {
	return g.limit <= 0 || g.base().Add(time.Duration(n)*interval(g.limit)).Sub(g.now) <= window
}

// take is the tat after n units.
func (g gcra) take(n int64) time.Time {
	if g.limit <= 0 {
		return g.tat
	}
	return g.base().Add(time.Duration(n) * interval(g.limit))
}

// wait is how long until n units fit.
func (g gcra) wait(n int64) time.Duration {
	return max(g.base().Add(time.Duration(n)*interval(g.limit)).Sub(g.now)-window, time.Millisecond)
}

func (g gcra) remaining() int64 {
	if g.limit <= 0 {
		return 0
	}
	return max(int64((window-g.base().Sub(g.now))/interval(g.limit)), 0)
}

func (g gcra) reset() time.Duration {
	if g.limit <= 0 {
		return 0
	}
	return g.base().Sub(g.now)
}
