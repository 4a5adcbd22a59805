package gateway

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/config"
	"aiservice/service/internal/provider"
	"aiservice/service/internal/wire"
)

// deployments makes model "a" a pool over the fake providers, with the given weights (0: 1),
// priorities and policy, and no fallbacks.
func deployments(policy string, weights, priorities []int) func(*config.Config) {
	return func(c *config.Config) {
		m := &c.Models[0]
		m.Provider, m.Fallbacks, m.Policy = "", nil, policy
		for i, p := range []string{"pa", "pb", "pc"}[:len(weights)] {
			w := max(weights[i], 1)
			d := config.Deployment{Name: p, Provider: p, Weight: &w}
			if priorities != nil {
				d.Priority = priorities[i]
			}
			m.Deployments = append(m.Deployments, d)
		}
	}
}

// seq is a deterministic stand-in for rand.IntN: it cycles through its values, modulo n.
func seq(vals ...int) func(int) int {
	i := 0
	return func(n int) int {
		v := vals[i%len(vals)]
		i++
		return v % n
	}
}

// counts picks a pool's deployment n times, with nothing tried or refused.
func counts(t *testing.T, p *pool, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		r, err := p.pick(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		got[r.deployment]++
	}
	return got
}

// The policies, each on its own deterministic state: shares, tiers, load and latency.
func TestPolicies(t *testing.T) {
	for _, tc := range []struct {
		name       string
		policy     string
		weights    []int
		priorities []int
		intn       func(int) int
		setup      func(p *pool, now time.Time)
		want       map[string]float64 // share of 3,000 picks, within 5 % of it
	}{
		{name: "weighted follows the weights", policy: "weighted", weights: []int{5, 3, 2},
			want: map[string]float64{"pa": .5, "pb": .3, "pc": .2}},
		{name: "weighted, equal weights", policy: "weighted", weights: []int{1, 1, 1},
			want: map[string]float64{"pa": 1. / 3, "pb": 1. / 3, "pc": 1. / 3}},
		{name: "priority keeps to the lowest tier, by weight", policy: "priority", weights: []int{1, 3, 1}, priorities: []int{1, 1, 2},
			want: map[string]float64{"pa": .25, "pb": .75}},
		{name: "priority spills to the next tier when the first is open", policy: "priority", weights: []int{1, 1, 1}, priorities: []int{0, 0, 1},
			setup: func(p *pool, _ time.Time) { tripAll(p.routes[0].guard); tripAll(p.routes[1].guard) },
			want:  map[string]float64{"pc": 1}},
		{name: "least busy takes the idle one", policy: "least_busy", weights: []int{1, 1, 1}, intn: seq(0, 1, 2),
			setup: func(p *pool, _ time.Time) { p.routes[0].load.busy.Store(3); p.routes[2].load.busy.Store(1) },
			want:  map[string]float64{"pb": 1}},
		{name: "least busy spreads ties", policy: "least_busy", weights: []int{1, 1, 1}, intn: seq(0, 1, 2),
			want: map[string]float64{"pa": 1. / 3, "pb": 1. / 3, "pc": 1. / 3}},
		{name: "latency: the slowest never wins a pair", policy: "latency", weights: []int{1, 1, 1}, intn: seq(0, 0, 1, 1, 2, 0),
			setup: func(p *pool, now time.Time) {
				p.routes[0].load.observe(10*time.Millisecond, now)
				p.routes[1].load.observe(20*time.Millisecond, now)
				p.routes[2].load.observe(300*time.Millisecond, now)
			},
			// Pairs (a,b) (b,c) (c,a) in turn: a wins two of three, b one, c none.
			want: map[string]float64{"pa": 2. / 3, "pb": 1. / 3}},
		{name: "latency: in flight weighs in", policy: "latency", weights: []int{1, 1}, intn: seq(0, 0),
			setup: func(p *pool, now time.Time) {
				p.routes[0].load.observe(10*time.Millisecond, now)
				p.routes[1].load.observe(15*time.Millisecond, now)
				p.routes[0].load.busy.Store(4) // 10 ms × 5 > 15 ms × 1
			},
			want: map[string]float64{"pb": 1}},
		{name: "latency: unknown first", policy: "latency", weights: []int{1, 1}, intn: seq(0, 0),
			setup: func(p *pool, now time.Time) { p.routes[0].load.observe(time.Millisecond, now) },
			want:  map[string]float64{"pb": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, deployments(tc.policy, tc.weights, tc.priorities))
			p := h.g.routes["a"]
			now := time.Unix(1000, 0)
			p.now = func() time.Time { return now }
			if tc.intn != nil {
				pol, err := newPolicy(tc.policy, len(p.routes), tc.intn)
				if err != nil {
					t.Fatal(err)
				}
				p.policy = pol
			}
			if tc.setup != nil {
				tc.setup(p, now)
			}
			const n = 3000
			got := counts(t, p, n)
			for _, r := range p.routes {
				share := float64(got[r.deployment]) / n
				if want := tc.want[r.deployment]; math.Abs(share-want) > 0.05*max(want, 0.01) {
					t.Errorf("%s: %.3f of the picks, want %.3f ± 5 %% (%v)", r.deployment, share, want, got)
				}
			}
		})
	}
}

// Smooth weighted round robin interleaves: 5:1:1 is a a b a c a a, not five a in a row.
func TestSmoothInterleaves(t *testing.T) {
	h := newHarness(t, deployments("weighted", []int{5, 1, 1}, nil))
	p := h.g.routes["a"]
	var got string
	for range 7 {
		r, _ := p.pick(0, 0)
		got += r.deployment[1:]
	}
	if got != "aabacaa" {
		t.Errorf("picks %q, want aabacaa (nginx's sequence)", got)
	}
}

// Peak EWMA: a slower answer is taken at once, faster ones are averaged in, and without
// answers the estimate fades, so a deployment that was slow is tried again.
func TestPeakEWMA(t *testing.T) {
	l := &load{decay: time.Second, latency: discardGauge(), inFlight: discardGauge()}
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		at      time.Duration // since t0
		observe time.Duration // 0: only read
		want    float64       // the cost then, seconds
	}{
		{0, 100 * time.Millisecond, 0.1},
		{0, 300 * time.Millisecond, 0.3},                                                // the peak, at once
		{time.Second, 100 * time.Millisecond, 0.3/math.E*(1/math.E) + 0.1*(1-1/math.E)}, // decayed, then averaged
		{4 * time.Second, 0, (0.3/math.E*(1/math.E) + 0.1*(1-1/math.E)) * math.Exp(-3)}, // fading
	} {
		now := t0.Add(tc.at)
		if tc.observe > 0 {
			l.observe(tc.observe, now)
		}
		if got := l.cost(now); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("at %v: cost %.6f, want %.6f", tc.at, got, tc.want)
		}
	}
}

// pick leaves out what cannot serve now, and takes what this request tried or what is cooling
// down only when nothing else is left.
func TestPickExcludes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(p *pool, now time.Time)
		tried   mask
		want    []string // the deployments picks may land on
		errCode string
	}{
		{name: "open breaker skipped", setup: func(p *pool, _ time.Time) { tripAll(p.routes[0].guard) }, want: []string{"pb", "pc"}},
		{name: "tried skipped", tried: mask(0).with(0).with(2), want: []string{"pb"}},
		{name: "all tried: any again", tried: mask(0).with(0).with(1).with(2), want: []string{"pa", "pb", "pc"}},
		{name: "cooling skipped", setup: func(p *pool, now time.Time) { p.routes[1].load.cool(now, time.Minute) }, want: []string{"pa", "pc"}},
		{name: "all cooling: still served", setup: func(p *pool, now time.Time) {
			for _, r := range p.routes {
				r.load.cool(now, time.Minute)
			}
		}, want: []string{"pa", "pb", "pc"}},
		{name: "all open", setup: func(p *pool, _ time.Time) {
			for _, r := range p.routes {
				tripAll(r.guard)
			}
		}, errCode: "circuit_open"},
		{name: "all at their rpm", setup: func(p *pool, now time.Time) {
			for _, r := range p.routes {
				r.load.rpm = perMinute(1)
				r.load.take(now)
			}
		}, errCode: "deployment_limits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, deployments("weighted", []int{1, 1, 1}, nil))
			p := h.g.routes["a"]
			now := time.Now()
			if tc.setup != nil {
				tc.setup(p, now)
			}
			for range 6 {
				r, err := p.pick(tc.tried, 0)
				if tc.errCode != "" {
					if e := apperr.From(err); e == nil || e.Code != tc.errCode || e.RetryAfter <= 0 && tc.errCode == "deployment_limits" {
						t.Fatalf("pick: %v, want %s", err, tc.errCode)
					}
					return
				}
				if err != nil || !slices.Contains(tc.want, r.deployment) {
					t.Fatalf("picked %v (%v), want one of %v", r, err, tc.want)
				}
			}
		})
	}
}

// A retry goes to another deployment at once; a 429 with Retry-After cools its deployment off
// without a breaker failure; an open breaker on one deployment costs the client nothing.
func TestRetriesElsewhere(t *testing.T) {
	h := newHarness(t, deployments("weighted", []int{1, 1}, nil))
	h.on("pa", status(503))
	for range 4 {
		if _, call, err := h.g.ChatRaw(context.Background(), chat("a")); err != nil || call.Attempts > 2 {
			t.Fatalf("error %v after %d attempts, want success within 2", err, call.Attempts)
		}
	}
	if d := h.slept(); len(d) != 0 {
		t.Errorf("backoffs %v before a retry on another deployment, want none", d)
	}
	pa, pb := len(h.ups["pa"].calls()), len(h.ups["pb"].calls())
	if pb != 4 || pa < 1 {
		t.Errorf("pa saw %d, pb %d calls: want every request served by pb after pa failed", pa, pb)
	}
	if got := counter(h.g.m.requests.WithLabelValues("a", "pa", "error")); got != float64(pa) {
		t.Errorf("deployment_requests_total{pa,error} = %v, want %d", got, pa)
	}
}

func TestCooldownAfter429(t *testing.T) {
	h := newHarness(t, deployments("weighted", []int{1, 1}, nil))
	h.on("pa", answer{err: statusAfter(429, time.Hour)})
	for range 6 {
		if _, _, err := h.g.ChatRaw(context.Background(), chat("a")); err != nil {
			t.Fatalf("error %v: the other deployment should have served", err)
		}
	}
	if got := len(h.ups["pa"].calls()); got != 1 {
		t.Errorf("pa saw %d calls, want 1: it is cooling down", got)
	}
	r := h.g.routes["a"].routes[0]
	if got := counter(r.load.cooldowns); got != 1 {
		t.Errorf("deployment_cooldowns_total = %v, want 1", got)
	}
	if r.guard.breaker.Counts().TotalFailures != 0 {
		t.Errorf("a 429 counted as a breaker failure")
	}
}

func TestBreakerPerDeployment(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		deployments("weighted", []int{1, 1}, nil)(c)
		c.Resilience.BreakerFailures = 2
	})
	h.on("pa", status(500))
	for range 10 {
		if _, _, err := h.g.ChatRaw(context.Background(), chat("a")); err != nil {
			t.Fatalf("error %v: the other deployment should have served", err)
		}
	}
	if got := len(h.ups["pa"].calls()); got != 2 {
		t.Errorf("pa saw %d calls, want 2 (its breaker threshold)", got)
	}
	if a, b := counter(h.g.m.state.WithLabelValues("pa", "a", "pa")), counter(h.g.m.state.WithLabelValues("pb", "a", "pb")); a != 2 || b != 0 {
		t.Errorf("breaker states pa %v, pb %v; want 2 (open) and 0", a, b)
	}
}

// rpm and tpm are kept locally: what the upstream would refuse is not sent.
func TestLocalLimits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rpm, tpm int
		served   int
	}{
		{"rpm", 3, 0, 3},
		{"tpm spent by one answer of 1500 tokens", 0, 1500, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) {
				deployments("weighted", []int{1}, nil)(c)
				c.Models[0].Deployments[0].RPM, c.Models[0].Deployments[0].TPM = tc.rpm, tc.tpm
			})
			served := 0
			for range tc.served + 2 {
				_, _, err := h.g.ChatRaw(context.Background(), chat("a"))
				if err == nil {
					served++
					continue
				}
				if e := apperr.From(err); e.Kind != apperr.RateLimit || e.Code != "deployment_limits" || e.RetryAfter < time.Second {
					t.Fatalf("refusal %v (retry after %v), want 429 deployment_limits", err, e.RetryAfter)
				}
			}
			if served != tc.served || len(h.ups["pa"].calls()) != tc.served {
				t.Errorf("served %d, upstream saw %d; want %d", served, len(h.ups["pa"].calls()), tc.served)
			}
		})
	}
}

// tripAll opens a guard's breaker as consecutive failures would.
func tripAll(g *guard) {
	for {
		done, err := g.breaker.Allow()
		if err != nil {
			return
		}
		done(errFailing)
	}
}

func statusAfter(code int, after time.Duration) error {
	return &provider.StatusError{StatusCode: code, RetryAfter: after, Detail: wire.ErrorDetail{Message: "slow down"}}
}

func discardGauge() prometheus.Gauge { return prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"}) }

// Each attempt's span names its deployment and that deployment's upstream: a retry on the
// other deployment is a span of its own.
func TestAttemptSpansNameTheDeployment(t *testing.T) {
	h := newHarness(t, deployments("weighted", []int{1, 1}, nil))
	rec := h.traced()
	h.on("pa", status(503))
	_, call, err := h.g.ChatRaw(context.Background(), chat("a"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sp := range rec.Ended() {
		attrs := map[string]string{}
		for _, kv := range sp.Attributes() {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		got = append(got, attrs["aiservice.deployment"]+"@"+attrs["server.address"])
	}
	if !slices.Equal(got, []string{"pa@pa.example.com", "pb@pb.example.com"}) || call.Provider != "pb" {
		t.Errorf("attempt spans %v, call served by %q; want pa then pb", got, call.Provider)
	}
}

// A stream holds its deployment's in-flight count until it is closed: least_busy sends the next
// request elsewhere meanwhile.
func TestStreamCountsInFlightUntilClosed(t *testing.T) {
	h := newHarness(t, deployments("least_busy", []int{1, 1}, nil))
	for _, p := range []string{"pa", "pb"} {
		h.on(p, answer{chunk: []string{`{"id":"x","created":1,"model":"up","choices":[{"index":0,"delta":{"content":"hi"}}]}`}})
	}
	p := h.g.routes["a"]
	first, _, err := h.g.ChatStream(context.Background(), chat("a"))
	if err != nil {
		t.Fatal(err)
	}
	held := first.a.r
	if got := counter(held.load.inFlight); got != 1 {
		t.Fatalf("deployment_in_flight{%s} = %v with its stream open, want 1", held.deployment, got)
	}
	second, _, err := h.g.ChatStream(context.Background(), chat("a"))
	if err != nil {
		t.Fatal(err)
	}
	if second.a.r == held {
		t.Errorf("the second stream went to %s too, which has one open", held.deployment)
	}
	for _, st := range []*Stream{first, second} {
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range p.routes {
		if got := counter(r.load.inFlight); got != 0 || r.load.busy.Load() != 0 {
			t.Errorf("%s: %v in flight after both streams closed", r.deployment, got)
		}
	}
}
