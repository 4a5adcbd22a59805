package gateway

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/config"
)

// maxDeployments bounds a model's deployments: a request's tried set is a bit mask.
const maxDeployments = 64

// defaultDecay is the latency policy's memory when a model sets no latency_decay, Finagle's
// default for its peak EWMA.
const defaultDecay = 10 * time.Second

// latencyPenalty is the cost of a deployment with no latency observed yet while it already has
// requests in flight: unknown is tried first, but not flooded before its first answer.
const latencyPenalty = 10.0 // seconds

// failureLatency is the least latency a failed attempt counts as: the latency policy steers
// away from an erroring deployment (whose errors may come fast) before its breaker opens.
const failureLatency = time.Second

// errLimited marks a call refused because every deployment is at its configured rpm/tpm: the
// next model of the chain may still serve it.
var errLimited = errors.New("deployments at their limits")

// mask is a set of a pool's deployments, by index: a pick builds no slices, so it allocates
// nothing on the request path.
type mask uint64

func (m mask) has(i int) bool  { return m&(1<<i) != 0 }
func (m mask) with(i int) mask { return m | 1<<i }
func (m mask) count() int      { return bits.OnesCount64(uint64(m)) }

// first is the lowest index in the set; the set must not be empty.
func (m mask) first() int { return bits.TrailingZeros64(uint64(m)) }

// nth is the index of the k-th member (from 0) of the set.
func (m mask) nth(k int) int {
	for ; k > 0; k-- {
		m &= m - 1
	}
	return m.first()
}

// policy chooses one of the candidates (a non-empty set) among a pool's routes.
type policy interface {
	choose(rs []*route, cands mask, now time.Time) *route
}

// newPolicy builds the named policy; intn is the random source of the randomised ones.
func newPolicy(name string, n int, intn func(int) int) (policy, error) {
	switch name {
	case "", config.DefaultPolicy:
		return p2c{intn: intn}, nil
	case "weighted":
		return newSmooth(n), nil
	case "least_busy":
		return leastBusy{intn: intn}, nil
	case "priority":
		return tiers{smooth: newSmooth(n)}, nil
	}
	return nil, fmt.Errorf("unknown balancing policy %q", name)
}

// smooth is nginx's smooth weighted round robin: each pick adds every candidate's weight to its
// current score, takes the highest, and takes the total off the winner. Over any window the
// shares follow the weights, and picks are interleaved (5:1:1 gives a a b a c a a, not a×5).
type smooth struct {
	mu      sync.Mutex
	current []int // by route index
}

func newSmooth(n int) *smooth { return &smooth{current: make([]int, n)} }

func (s *smooth) choose(rs []*route, cands mask, _ time.Time) *route {
	s.mu.Lock()
	defer s.mu.Unlock()
	total, best := 0, cands.first()
	for m := cands; m != 0; m &= m - 1 {
		i := m.first()
		s.current[i] += rs[i].weight
		total += rs[i].weight
		if s.current[i] > s.current[best] {
			best = i
		}
	}
	s.current[best] -= total
	return rs[best]
}

// tiers is the priority policy: the lowest tier among the candidates takes the traffic, shared
// by weight; a tier whose deployments are all open, limited or tried is skipped by the caller.
type tiers struct{ smooth *smooth }

func (t tiers) choose(rs []*route, cands mask, now time.Time) *route {
	top := rs[cands.first()].priority
	for m := cands; m != 0; m &= m - 1 {
		top = min(top, rs[m.first()].priority)
	}
	var tier mask
	for m := cands; m != 0; m &= m - 1 {
		if i := m.first(); rs[i].priority == top {
			tier = tier.with(i)
		}
	}
	return t.smooth.choose(rs, tier, now)
}

// leastBusy takes the candidate with the fewest attempts in flight, ties broken from a random
// starting point so equal deployments share the load.
type leastBusy struct{ intn func(int) int }

func (l leastBusy) choose(rs []*route, cands mask, _ time.Time) *route {
	start := cands.nth(l.intn(cands.count()))
	below := cands & (1<<start - 1)
	best := rs[start]
	// From the starting point up, then around: the first of equals wins.
	for _, part := range [2]mask{cands &^ below, below} {
		for m := part; m != 0; m &= m - 1 {
			if r := rs[m.first()]; r.load.busy.Load() < best.load.busy.Load() {
				best = r
			}
		}
	}
	return best
}

// p2c is the latency policy: two candidates at random, the one with the lower peak-EWMA
// latency × (in flight + 1) wins (Linkerd, Finagle). Randomness keeps every client from piling
// onto the one fastest deployment; the in-flight factor pushes back when it saturates.
type p2c struct{ intn func(int) int }

func (p p2c) choose(rs []*route, cands mask, now time.Time) *route {
	n := cands.count()
	if n == 1 {
		return rs[cands.first()]
	}
	a := p.intn(n)
	b := p.intn(n - 1)
	if b >= a {
		b++
	}
	ra, rb := rs[cands.nth(a)], rs[cands.nth(b)]
	if rb.load.cost(now) < ra.load.cost(now) {
		return rb
	}
	return ra
}

// load is what the balancer knows of one deployment: attempts in flight, its peak-EWMA latency,
// a cooldown an upstream asked for, and the rpm/tpm it may still use.
type load struct {
	busy      atomic.Int64
	coolUntil atomic.Int64 // unix ns; an upstream's 429 Retry-After

	mu    sync.Mutex
	ewma  float64 // seconds
	stamp time.Time
	decay time.Duration

	rpm, tpm *rate.Limiter // nil: no limit

	inFlight, latency prometheus.Gauge
	cooldowns         prometheus.Counter
}

// perMinute is a limiter for n per minute that allows a minute's worth at once, as the
// upstreams' own per-minute windows do.
func perMinute(n int) *rate.Limiter {
	if n <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(float64(n)/60), n)
}

// decayed is the EWMA as of now: without new observations it fades towards zero, so a
// deployment that was slow is tried again later rather than never.
func (l *load) decayed(now time.Time) float64 {
	if l.ewma == 0 {
		return 0
	}
	return l.ewma * math.Exp(-float64(now.Sub(l.stamp))/float64(l.decay))
}

// observe folds one attempt's latency in: a slower one is taken at once (the peak), a faster
// one is averaged in by how long ago the last observation was.
func (l *load) observe(d time.Duration, now time.Time) {
	rtt := d.Seconds()
	l.mu.Lock()
	if cur := l.decayed(now); rtt > cur || l.ewma == 0 {
		l.ewma = rtt
	} else {
		w := math.Exp(-float64(now.Sub(l.stamp)) / float64(l.decay))
		l.ewma = cur*w + rtt*(1-w)
	}
	l.stamp = now
	v := l.ewma
	l.mu.Unlock()
	l.latency.Set(v)
}

// cost is the latency policy's score: lower is better.
func (l *load) cost(now time.Time) float64 {
	busy := float64(l.busy.Load())
	l.mu.Lock()
	e := l.decayed(now)
	l.mu.Unlock()
	if e == 0 && busy > 0 {
		return latencyPenalty + busy
	}
	return e * (busy + 1)
}

func (l *load) enter() { l.busy.Add(1); l.inFlight.Inc() }
func (l *load) leave() { l.busy.Add(-1); l.inFlight.Dec() }

// cool keeps the deployment out of the rotation for d, as its upstream asked.
func (l *load) cool(now time.Time, d time.Duration) {
	l.coolUntil.Store(now.Add(d).UnixNano())
	l.cooldowns.Inc()
}

func (l *load) cooling(now time.Time) bool { return now.UnixNano() < l.coolUntil.Load() }

// limited reports that the deployment has used its rpm or tpm for now.
func (l *load) limited(now time.Time) bool {
	return l.rpm != nil && l.rpm.TokensAt(now) < 1 || l.tpm != nil && l.tpm.TokensAt(now) < 1
}

// take spends one request of the rpm; false when another request took the last one first.
func (l *load) take(now time.Time) bool { return l.rpm == nil || l.rpm.AllowN(now, 1) }

// spend counts an answer's tokens against the tpm. The usage is known only afterwards, so the
// budget may go into debt: further requests wait until the minute has paid it back.
func (l *load) spend(tokens int) {
	if l == nil || l.tpm == nil || tokens <= 0 {
		return
	}
	l.tpm.ReserveN(time.Now(), min(tokens, l.tpm.Burst()))
}

// retryIn is how long until the rpm/tpm allow a request again.
func (l *load) retryIn(now time.Time) time.Duration {
	var wait time.Duration
	for _, lim := range []*rate.Limiter{l.rpm, l.tpm} {
		if lim == nil {
			continue
		}
		if short := 1 - lim.TokensAt(now); short > 0 {
			wait = max(wait, time.Duration(short/float64(lim.Limit())*float64(time.Second)))
		}
	}
	return wait
}

// pick chooses the deployment of a pool's next attempt and takes its rpm share. Open breakers,
// deployments at their limits and those in refused are out; deployments this request already
// tried, and those cooling down after a 429, are used only when nothing else is left — a
// model with one deployment keeps retrying it, and passes its upstream's 429 on.
func (p *pool) pick(tried, refused mask) (*route, error) {
	now := p.now()
	for {
		var cands mask
		open, limited := 0, 0
		for _, r := range p.routes {
			switch {
			case r.guard.isOpen():
				open++
			case r.load.limited(now):
				limited++
			case refused.has(r.index):
			default:
				cands = cands.with(r.index)
			}
		}
		if cands == 0 {
			return nil, p.unavailable(open, limited, now)
		}
		if fresh := cands &^ tried; fresh != 0 {
			cands = fresh
		}
		var warm mask
		for m := cands; m != 0; m &= m - 1 {
			if i := m.first(); !p.routes[i].load.cooling(now) {
				warm = warm.with(i)
			}
		}
		if warm != 0 {
			cands = warm
		}
		r := p.policy.choose(p.routes, cands, now)
		if r.load.take(now) {
			return r, nil
		}
		refused = refused.with(r.index)
	}
}

// spare reports whether another attempt could go to a deployment not tried yet and healthy:
// then a retry goes there at once, without the backoff meant for an upstream to recover.
func (p *pool) spare(tried mask) bool {
	now := p.now()
	for _, r := range p.routes {
		if !tried.has(r.index) && !r.guard.isOpen() && !r.load.limited(now) && !r.load.cooling(now) {
			return true
		}
	}
	return false
}

// unavailable is the error of a pool with no deployment to try: an open breaker when one is
// open (the next model may serve), otherwise the local rpm/tpm limits.
func (p *pool) unavailable(open, limited int, now time.Time) error {
	if open > 0 || limited == 0 {
		var wait time.Duration = math.MaxInt64
		for _, r := range p.routes {
			wait = min(wait, r.guard.retryIn())
		}
		return &apperr.Error{Kind: apperr.Unavailable, Code: "circuit_open", RetryAfter: wait,
			Message: fmt.Sprintf("The upstream for %q is failing; try again later.", p.model.Name), Cause: errCircuitOpen}
	}
	var wait time.Duration = math.MaxInt64
	for _, r := range p.routes {
		wait = min(wait, r.load.retryIn(now))
	}
	return &apperr.Error{Kind: apperr.RateLimit, Code: "deployment_limits", RetryAfter: max(wait, time.Second),
		Message: fmt.Sprintf("Every deployment of %q is at its configured requests or tokens per minute; retry shortly.", p.model.Name),
		Cause:   errLimited}
}
