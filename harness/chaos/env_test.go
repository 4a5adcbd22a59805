package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"aiservice/harness/client"
	"aiservice/harness/launch"
)

// tune is the service's resilience configuration for a scenario. Deadlines are short so a
// fault shows its effect in well under a second.
type tune struct {
	Chat, Stream, FirstToken, Idle time.Duration // route deadlines and stream limits
	HeaderTimeout                  time.Duration // upstream.response_header_timeout
	ConnectTimeout                 time.Duration // upstream.connect_timeout
	IdleConnTimeout                time.Duration // upstream.idle_conn_timeout
	MaxRetries                     int
	BreakerFailures                int
	BreakerCooldown                time.Duration
	BudgetRatio, BudgetMin         float64
	MaxInFlight                    int
}

func defaultTune() tune {
	return tune{
		Chat: time.Second, Stream: 2 * time.Second, FirstToken: 500 * time.Millisecond, Idle: 500 * time.Millisecond,
		HeaderTimeout: 300 * time.Millisecond, ConnectTimeout: 200 * time.Millisecond, IdleConnTimeout: 300 * time.Millisecond,
		MaxRetries: 2, BreakerFailures: 3, BreakerCooldown: 500 * time.Millisecond,
		BudgetRatio: 0.2, BudgetMin: 10, MaxInFlight: 64,
	}
}

// yaml renders the tune as service config. idle_conn_timeout is short so pooled upstream
// connections close soon after a scenario and the leak check can expect the baseline again.
func (c tune) yaml() string {
	return fmt.Sprintf(`timeouts: {chat: %s, stream: %s, stream_first_token: %s, stream_idle: %s}
upstream: {response_header_timeout: %s, connect_timeout: %s, idle_conn_timeout: %s}
resilience: {max_retries: %d, breaker_failures: %d, breaker_cooldown: %s, backoff_base: 10ms, backoff_max: 50ms, retry_budget_ratio: %g, retry_budget_min: %g, max_in_flight: %d}
`, c.Chat, c.Stream, c.FirstToken, c.Idle, c.HeaderTimeout, c.ConnectTimeout, c.IdleConnTimeout,
		c.MaxRetries, c.BreakerFailures, c.BreakerCooldown, c.BudgetRatio, c.BudgetMin, c.MaxInFlight)
}

// setup describes a scenario's processes.
type setup struct {
	tune tune
	// config, when set, builds the whole service config (for scenarios with several providers);
	// by default every model goes to the simulator through the proxy "upstream".
	config func(e *env) string
	// service adds to how the service process starts (its environment, cgroups).
	service launch.Options
}

// env is one scenario: a simulator, a service, and the proxies on both hops.
type env struct {
	t       *testing.T
	tune    tune
	sim     *launch.Process
	simc    launch.SimControl
	up      *toxiclient.Proxy // service → simulator
	svc     *launch.Process
	down    *toxiclient.Proxy // client → service
	api     *client.Client    // through the client proxy: the faulted path
	direct  *client.Client    // straight to the service: metrics and health, never faulted
	proxies []*toxiclient.Proxy
	base    runtimeStats
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// newEnv starts a simulator, the upstream proxy, the service and the client proxy, checks a
// normal request works, records the runtime baseline, and registers the recovery check that
// runs when the test ends.
func newEnv(t *testing.T, s setup) *env {
	t.Helper()
	if s.tune == (tune{}) {
		s.tune = defaultTune()
	}
	e := &env{t: t, tune: s.tune}
	e.sim = launch.MustStartSim(t, launch.Options{})
	e.simc = launch.SimControl{URL: e.sim.URL}
	e.up = e.proxy("upstream", e.sim.Addr)
	cfg := launch.UpstreamConfig("http://"+e.up.Listen, s.tune.yaml())
	if s.config != nil {
		cfg = s.config(e)
	}
	o := s.service
	o.Config = cfg
	e.svc = launch.MustStartService(t, o)
	e.down = e.proxy("client", e.svc.Addr)
	// No keep-alive on the test side: each request is its own connection, so a pooled
	// connection can neither hide a fault nor count as a leak.
	e.api = client.New("http://" + e.down.Listen)
	e.api.HTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	e.direct = client.New(e.svc.URL)
	e.direct.HTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

	e.mustNormalChat("warm-up")
	e.base = e.runtime()
	t.Cleanup(e.checkRecovered)
	return e
}

// proxy creates a toxiproxy proxy on a free loopback port, named after the test, and removes
// it when the test ends.
func (e *env) proxy(role, upstream string) *toxiclient.Proxy {
	e.t.Helper()
	name := unsafeName.ReplaceAllString(e.t.Name(), "_") + "_" + role
	p, err := toxi.CreateProxy(name, "127.0.0.1:0", upstream)
	if err != nil {
		e.t.Fatalf("create proxy %s: %v", name, err)
	}
	e.proxies = append(e.proxies, p)
	e.t.Cleanup(func() {
		if err := p.Delete(); err != nil {
			e.t.Errorf("delete proxy %s: %v", name, err)
		}
	})
	return p
}

// toxic adds a toxic and fails the test if toxiproxy refuses it.
func (e *env) toxic(p *toxiclient.Proxy, name, typ, stream string, attrs toxiclient.Attributes) {
	e.t.Helper()
	if _, err := p.AddToxic(name, typ, stream, 1.0, attrs); err != nil {
		e.t.Fatalf("add %s toxic %s on %s: %v", typ, name, p.Name, err)
	}
}

func (e *env) removeToxic(p *toxiclient.Proxy, name string) {
	e.t.Helper()
	if err := p.RemoveToxic(name); err != nil {
		e.t.Fatalf("remove toxic %s on %s: %v", name, p.Name, err)
	}
}

func (e *env) setSim(b launch.SimBehaviour) {
	e.t.Helper()
	if err := e.simc.SetBehaviour(context.Background(), b); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) simStats() launch.SimStats {
	e.t.Helper()
	st, err := e.simc.Stats(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// --- Requests -----------------------------------------------------------------------------

func userMessage(text string) []client.Message { return []client.Message{client.Text("user", text)} }

// result is what a client saw for one non-streaming request.
type result struct {
	Status  int
	Type    string // error.type for non-2xx
	Code    string // error.code for non-2xx
	Header  http.Header
	Resp    *client.ChatResponse
	Elapsed time.Duration
	Err     error // transport failure (no HTTP answer)
}

func (r result) String() string {
	if r.Err != nil {
		return fmt.Sprintf("transport error after %s: %v", r.Elapsed.Round(time.Millisecond), r.Err)
	}
	return fmt.Sprintf("%d %s/%s after %s", r.Status, r.Type, r.Code, r.Elapsed.Round(time.Millisecond))
}

// chat sends POST /v1/chat through the client proxy.
func (e *env) chat(ctx context.Context, model, text string) result {
	start := time.Now()
	resp, raw, err := e.api.Chat(ctx, client.ChatRequest{Model: model, Messages: userMessage(text)})
	r := result{Elapsed: time.Since(start)}
	var ae *client.APIError
	switch {
	case errors.As(err, &ae):
		r.Status, r.Header, r.Type = ae.Status, ae.Header, ae.Body.Error.Type
		if ae.Body.Error.Code != nil {
			r.Code = *ae.Body.Error.Code
		}
	case err != nil:
		r.Err = err
	default:
		r.Status, r.Header, r.Resp = raw.Status, raw.Header, resp
	}
	return r
}

// burst sends n chats at once and returns their results in order.
func (e *env) burst(ctx context.Context, n int, model string) []result {
	out := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = e.chat(ctx, model, fmt.Sprintf("burst request %d", i))
		}()
	}
	wg.Wait()
	return out
}

// mustNormalChat is the "does it still work" probe: a plain chat through both proxies.
func (e *env) mustNormalChat(why string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := e.chat(ctx, "gpt-4o-mini", "hello after chaos")
	if r.Status != http.StatusOK || r.Resp == nil || len(r.Resp.Choices) == 0 || r.Resp.Choices[0].Message.Content == nil ||
		*r.Resp.Choices[0].Message.Content == "" {
		e.t.Fatalf("%s: a normal chat request failed: %v\nservice logs:\n%s", why, r, tail(e.svc.Logs(), 20))
	}
	return r
}

// streamReq is the streaming request the stream scenarios send.
func streamReq(text string) client.ChatRequest {
	return client.ChatRequest{Model: "gpt-4o-mini", Messages: userMessage(text)}
}

// collect reads a whole stream through the client proxy.
func (e *env) collect(ctx context.Context, req client.ChatRequest) ([]*client.Event, time.Duration, error) {
	start := time.Now()
	st, err := e.api.ChatStream(ctx, req)
	if err != nil {
		return nil, time.Since(start), err
	}
	evs, err := st.Collect()
	return evs, time.Since(start), err
}

// --- Metrics ------------------------------------------------------------------------------

// metrics is a Prometheus text exposition.
type metrics string

func (e *env) metrics() metrics {
	e.t.Helper()
	m, err := e.scrape()
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// scrape reads /metrics without failing the test, for watcher goroutines.
func (e *env) scrape() (metrics, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := e.direct.Metrics(ctx)
	if err != nil {
		return "", fmt.Errorf("GET /metrics: %w", err)
	}
	return metrics(m), nil
}

// value sums the samples of name whose labels include every pair in kv ("k1", "v1", ...).
// A series that does not exist reads 0, like a counter that has not moved.
func (m metrics) value(name string, kv ...string) float64 {
	sum := 0.0
	for _, line := range strings.Split(string(m), "\n") {
		if line == "" || line[0] == '#' || !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		labels := ""
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer metric name with the same prefix
		}
		if !hasLabels(labels, kv) {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			sum += v
		}
	}
	return sum
}

func hasLabels(labels string, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		if !strings.Contains(","+labels+",", ","+kv[i]+"="+strconv.Quote(kv[i+1])+",") {
			return false
		}
	}
	return true
}

// runtimeStats are the service's own process numbers.
type runtimeStats struct {
	Goroutines, FDs, RSS float64
}

func (e *env) runtime() runtimeStats {
	return e.metrics().runtime()
}

func (m metrics) runtime() runtimeStats {
	return runtimeStats{
		Goroutines: m.value("go_goroutines"),
		FDs:        m.value("process_open_fds"),
		RSS:        m.value("process_resident_memory_bytes"),
	}
}

// rssWatch samples the service's RSS every 50 ms until stopped, from a goroutine that never
// touches testing.T; stop returns the peak and any scrape error.
func (e *env) rssWatch() (stop func() (float64, error)) {
	done := make(chan struct{})
	type res struct {
		peak float64
		err  error
	}
	out := make(chan res, 1)
	go func() {
		var r res
		for {
			m, err := e.scrape()
			if err != nil && r.err == nil {
				r.err = err
			}
			r.peak = max(r.peak, m.runtime().RSS)
			select {
			case <-done:
				out <- r
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() (float64, error) {
		close(done)
		r := <-out
		return r.peak, r.err
	}
}

// eventually polls cond every 20 ms until it holds or limit passes; it returns how long it took.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		last = state
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s; last state: %s", what, limit, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Leak tolerances: the /metrics request itself and the runtime's own helpers may add a couple
// of goroutines; a leaked request holds at least its connection's goroutine and descriptor,
// and usually the upstream connection's two goroutines as well.
const (
	goroutineSlack = 3
	fdSlack        = 2
)

// checkRecovered runs when a scenario ends (before the processes stop): with every fault
// removed, the service must come back to its goroutine and descriptor baseline, the
// simulator must have nothing in flight, and a normal request must succeed.
func (e *env) checkRecovered() {
	t := e.t
	if t.Failed() {
		return // the failure is the story; a recovery check would only add noise
	}
	for _, p := range e.proxies {
		toxics, err := p.Toxics()
		if err != nil {
			t.Errorf("list toxics of %s: %v", p.Name, err)
			continue
		}
		for _, tx := range toxics {
			if err := p.RemoveToxic(tx.Name); err != nil {
				t.Errorf("remove toxic %s: %v", tx.Name, err)
			}
		}
		if !p.Enabled {
			if err := p.Enable(); err != nil {
				t.Errorf("enable %s: %v", p.Name, err)
			}
		}
	}
	if err := e.simc.SetBehaviour(context.Background(), launch.SimBehaviour{}); err != nil {
		t.Error(err)
	}
	now, took := e.waitNoLeak("after the scenario")
	r := e.mustNormalChat("after the scenario")
	t.Logf("recovered in %s: goroutines %v→%v, fds %v→%v, rss %.1f→%.1f MiB; normal chat %s",
		took.Round(time.Millisecond), e.base.Goroutines, now.Goroutines, e.base.FDs, now.FDs,
		e.base.RSS/(1<<20), now.RSS/(1<<20), r.Elapsed.Round(time.Millisecond))
}

// waitNoLeak polls until the service is back to its goroutine and open-descriptor baseline
// (within the slack) and the simulator has nothing in flight, and fails the test if that does
// not happen within 5 s: whatever a request started must end with it.
func (e *env) waitNoLeak(when string) (runtimeStats, time.Duration) {
	e.t.Helper()
	var now runtimeStats
	took := eventually(e.t, 5*time.Second, when+": service back to its goroutine/fd baseline and simulator idle", func() (bool, string) {
		now = e.runtime()
		st := e.simStats()
		return now.Goroutines <= e.base.Goroutines+goroutineSlack && now.FDs <= e.base.FDs+fdSlack && st.InFlight == 0,
			fmt.Sprintf("goroutines %v (baseline %v), open fds %v (baseline %v), sim in flight %d",
				now.Goroutines, e.base.Goroutines, now.FDs, e.base.FDs, st.InFlight)
	})
	return now, took
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// within fails unless lo <= d <= hi.
func within(t *testing.T, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Errorf("%s took %s, want between %s and %s", what, d.Round(time.Millisecond), lo, hi)
	}
}
