package chaos

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"aiservice/harness/launch"
)

// Connection lifecycles and load: lingering closes, jitter under a burst, the in-flight cap,
// and an upstream rate-limit storm against the retry budget.

// An upstream connection that the simulator drops but whose close lingers (slow_close holds
// the FIN for 3 s) looks like a silent upstream: the response-header timeout must end the
// attempt and the retry succeed, instead of waiting for the close.
func TestUpstreamLingeringClose(t *testing.T) {
	e := newEnv(t, setup{})
	const delay = 3000 // ms the close is held back
	e.toxic(e.up, "linger", "slow_close", "downstream", toxiclient.Attributes{"delay": delay})
	e.setSim(launch.SimBehaviour{FailNext: 1, DropConnection: true})
	labels := []string{"provider", "upstream", "model", "gpt-4o-mini"}
	sim0, m0 := e.simStats(), e.metrics()

	r := e.chat(context.Background(), "gpt-4o-mini", "dropped, then retried")
	if r.Status != http.StatusOK {
		t.Fatalf("got %v, want 200 after one retry", r)
	}
	// Ended by the header timeout and one retry, long before the close would have come.
	within(t, "the retried request", r.Elapsed, e.tune.HeaderTimeout, e.tune.HeaderTimeout+time.Second)
	sim1, m1 := e.simStats(), e.metrics()
	if got := sim1.Requests - sim0.Requests; got != 2 || sim1.InjectedErrors-sim0.InjectedErrors != 1 {
		t.Errorf("simulator saw %d requests (%d dropped), want 2 (1 dropped)", got, sim1.InjectedErrors-sim0.InjectedErrors)
	}
	if d := m1.value("upstream_retries_total", labels...) - m0.value("upstream_retries_total", labels...); d != 1 {
		t.Errorf("upstream_retries_total grew by %v, want 1", d)
	}
	t.Logf("dropped connection with a %dms lingering close: %v (header timeout %s)", delay, r, e.tune.HeaderTimeout)
}

// A burst of concurrent requests while both hops are jittery (latency 100±80 ms on the
// upstream's answers) and client connections close slowly (slow_close on the client hop):
// every request succeeds, none is retried, and each takes about the injected latency.
func TestBurstUnderJitter(t *testing.T) {
	e := newEnv(t, setup{})
	const n = 24
	const latency, jitter = 100, 80
	e.toxic(e.up, "jitter", "latency", "downstream", toxiclient.Attributes{"latency": latency, "jitter": jitter})
	e.toxic(e.down, "linger_up", "slow_close", "upstream", toxiclient.Attributes{"delay": 300})
	e.toxic(e.down, "linger_down", "slow_close", "downstream", toxiclient.Attributes{"delay": 300})
	labels := []string{"provider", "upstream", "model", "gpt-4o-mini"}
	m0 := e.metrics()

	start := time.Now()
	rs := e.burst(context.Background(), n, "gpt-4o-mini")
	took := time.Since(start)
	durations := make([]time.Duration, 0, n)
	for i, r := range rs {
		if r.Status != http.StatusOK {
			t.Errorf("request %d: %v, want 200", i, r)
		}
		durations = append(durations, r.Elapsed)
	}
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	lo, hi := time.Duration(latency-jitter)*time.Millisecond, time.Duration(latency+jitter)*time.Millisecond
	within(t, "the fastest request", durations[0], lo, hi+300*time.Millisecond)
	within(t, "the slowest request", durations[n-1], lo, hi+700*time.Millisecond)
	if d := e.metrics().value("upstream_retries_total", labels...) - m0.value("upstream_retries_total", labels...); d != 0 {
		t.Errorf("%v retries under mere jitter, want 0", d)
	}
	t.Logf("%d concurrent requests under %d±%dms: all 200, min %s, median %s, max %s, burst %s",
		n, latency, jitter, durations[0].Round(time.Millisecond), durations[n/2].Round(time.Millisecond),
		durations[n-1].Round(time.Millisecond), took.Round(time.Millisecond))
}

// At the in-flight cap the gateway sheds at once — 429 rate_limit_error/overloaded with
// Retry-After — instead of queueing behind a slow upstream; probes stay answered meanwhile,
// memory stays bounded, and the gateway serves normally once the burst is over.
func TestInFlightCapUnderBurst(t *testing.T) {
	tn := defaultTune()
	tn.MaxInFlight = 4
	tn.Chat = 3 * time.Second
	tn.HeaderTimeout = 2 * time.Second // the slow upstream is slow, not dead
	e := newEnv(t, setup{tune: tn})
	const n = 16
	const latency = 800 // ms: every admitted request holds its slot this long
	// The simulator itself is slow, so its in_flight counter shows the concurrency the
	// gateway lets through.
	e.setSim(launch.SimBehaviour{Latency: fmt.Sprintf("%dms", latency)})
	m0 := e.metrics()

	// Watch while the burst runs: /healthz, the simulator's concurrency, and RSS.
	stopRSS := e.rssWatch()
	stop := make(chan struct{})
	var watch sync.WaitGroup
	var maxHealth time.Duration
	var healthFailures, healthChecks int
	var maxSimInFlight int64
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			start := time.Now()
			_, resp, err := e.direct.Health(context.Background())
			healthChecks++
			if err != nil || resp.Status != http.StatusOK {
				healthFailures++
			}
			maxHealth = max(maxHealth, time.Since(start))
			if st, err := e.simc.Stats(context.Background()); err == nil {
				maxSimInFlight = max(maxSimInFlight, st.InFlight)
			}
			select {
			case <-stop:
				return
			case <-time.After(25 * time.Millisecond):
			}
		}
	}()
	rs := e.burst(context.Background(), n, "gpt-4o-mini")
	close(stop)
	watch.Wait()
	maxRSS, err := stopRSS()
	if err != nil {
		t.Fatal(err)
	}

	ok, shed := 0, 0
	var slowestShed time.Duration
	for i, r := range rs {
		switch {
		case r.Status == http.StatusOK:
			ok++
		case r.Status == http.StatusTooManyRequests && r.Type == "rate_limit_error" && r.Code == "overloaded":
			shed++
			slowestShed = max(slowestShed, r.Elapsed)
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("request %d: 429 overloaded without Retry-After", i)
			}
		default:
			t.Errorf("request %d: %v, want 200 or 429 overloaded", i, r)
		}
	}
	if ok != tn.MaxInFlight || shed != n-tn.MaxInFlight {
		t.Errorf("%d succeeded and %d were shed, want %d and %d (cap %d)", ok, shed, tn.MaxInFlight, n-tn.MaxInFlight, tn.MaxInFlight)
	}
	// Shed requests were not queued: answered well before one upstream latency.
	within(t, "the slowest 429", slowestShed, 0, latency*time.Millisecond/2)
	if maxSimInFlight != int64(tn.MaxInFlight) {
		t.Errorf("the simulator saw at most %d requests at once, want exactly the cap of %d", maxSimInFlight, tn.MaxInFlight)
	}
	// Probes never wait for an upstream slot: each answers well within one upstream latency.
	if healthFailures > 0 || maxHealth > latency*time.Millisecond/2 {
		t.Errorf("/healthz during the burst: %d of %d failed, slowest %s; want all 200 within %dms", healthFailures, healthChecks, maxHealth, latency/2)
	}
	if d := e.metrics().value("load_shed_total", "route", "/v1/chat") - m0.value("load_shed_total", "route", "/v1/chat"); d != float64(shed) {
		t.Errorf("load_shed_total{/v1/chat} grew by %v, want %d", d, shed)
	}
	if bound := e.base.RSS + 32<<20; maxRSS > bound {
		t.Errorf("peak RSS %.1f MiB during the burst, want <= %.1f MiB", maxRSS/(1<<20), bound/(1<<20))
	}

	// The burst is over: a new request is admitted (still through the slow upstream).
	r := e.chat(context.Background(), "gpt-4o-mini", "after the burst")
	if r.Status != http.StatusOK {
		t.Errorf("after the burst: %v, want 200", r)
	}
	t.Logf("burst of %d with cap %d: %d ok, %d shed (slowest 429 %s); /healthz %d checks, slowest %s; sim peak in flight %d; peak RSS %.1f MiB (baseline %.1f); after: %v",
		n, tn.MaxInFlight, ok, shed, slowestShed.Round(time.Millisecond), healthChecks, maxHealth.Round(time.Millisecond),
		maxSimInFlight, maxRSS/(1<<20), e.base.RSS/(1<<20), r)
}

// An upstream answering every request with 429 and Retry-After: the gateway honours
// Retry-After and retries only within its budget — upstream attempts stay at or below
// requests × (1 + retry_budget_ratio) + retry_budget_min — and passes the 429 on.
func TestUpstream429StormRetryBudget(t *testing.T) {
	tn := defaultTune()
	tn.Chat = 3 * time.Second // room for retries after a Retry-After of 1 s
	tn.BudgetRatio, tn.BudgetMin = 0.2, 2
	tn.BreakerFailures = 1000 // keep the breaker out of it: this is about the budget
	e := newEnv(t, setup{tune: tn})
	const n = 20
	e.setSim(launch.SimBehaviour{ErrorRate: 1, ErrorStatus: http.StatusTooManyRequests, RetryAfter: "100ms"})
	labels := []string{"provider", "upstream", "model", "gpt-4o-mini"}
	sim0, m0 := e.simStats(), e.metrics()

	rs := e.burst(context.Background(), n, "gpt-4o-mini")
	sim1, m1 := e.simStats(), e.metrics()
	waited := 0 // requests that slept for the upstream's Retry-After before a retry
	for i, r := range rs {
		if r.Status != http.StatusTooManyRequests || r.Type != "rate_limit_error" || r.Code != "upstream_rate_limited" {
			t.Errorf("request %d: %v, want 429 rate_limit_error/upstream_rate_limited", i, r)
		}
		if ra := r.Header.Get("Retry-After"); ra != "1" {
			t.Errorf("request %d: Retry-After %q, want the upstream's \"1\"", i, ra)
		}
		if r.Elapsed >= time.Second {
			waited++
		}
	}
	attempts := sim1.Requests - sim0.Requests
	retries := m1.value("upstream_retries_total", labels...) - m0.value("upstream_retries_total", labels...)
	exhausted := m1.value("upstream_retry_budget_exhausted_total", labels...) - m0.value("upstream_retry_budget_exhausted_total", labels...)
	bound := float64(n)*(1+tn.BudgetRatio) + tn.BudgetMin
	if float64(attempts) > bound {
		t.Errorf("%d upstream attempts for %d requests, want <= %v (ratio %v, reserve %v)", attempts, n, bound, tn.BudgetRatio, tn.BudgetMin)
	}
	if attempts < n || float64(attempts-n) != retries {
		t.Errorf("%d upstream attempts, %v retries counted, for %d requests: want attempts = requests + retries", attempts, retries, n)
	}
	if exhausted < 1 {
		t.Errorf("upstream_retry_budget_exhausted_total grew by %v: the storm never hit the budget", exhausted)
	}
	// Every retry waited for Retry-After (1 s), so exactly the requests that retried took >= 1 s.
	if retries < 1 || float64(waited) > retries {
		t.Errorf("%d requests took >= 1s but %v retries happened: want 1 <= waited <= retries", waited, retries)
	}
	t.Logf("429 storm: %d requests → %d upstream attempts (bound %v), %v retries, %v budget refusals, %d requests waited for Retry-After",
		n, attempts, bound, retries, exhausted, waited)
}
