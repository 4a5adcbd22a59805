package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"aiservice/harness/client"
	"aiservice/harness/launch"
	"aiservice/harness/resource"
)

// Resource chaos: the service starved of CPU, short of memory, out of file descriptors. The
// limits are real (a cgroup, an rlimit on the process) and lifted again inside the test, which
// then checks the service recovers like every other scenario.

// newTestGroup is resource.NewTestGroup, unless CHAOS_NO_CGROUPS is set: then the scenarios
// take their fallbacks, as on a machine without cgroups, so those can be checked anywhere.
func newTestGroup(t *testing.T, name string, controllers ...string) (*resource.Group, error) {
	if os.Getenv("CHAOS_NO_CGROUPS") != "" {
		return nil, errors.New("CHAOS_NO_CGROUPS is set")
	}
	return resource.NewTestGroup(t, name, controllers...)
}

// cpuSqueeze starves the service of CPU and gives it back.
type cpuSqueeze struct {
	how   string
	lift  func() error
	bites func() (bool, string) // whether the squeeze really held the process back
}

// squeezeCPU caps the service to a tenth of a core with a cgroup, or, where no cgroup can be
// made, pins it to one core next to three busy processes.
func squeezeCPU(t *testing.T, pid int) cpuSqueeze {
	t.Helper()
	const cores = 0.1
	g, err := newTestGroup(t, "aiservice-cpu", "cpu")
	if err == nil {
		err = errors.Join(g.Add(pid), g.SetCPU(cores))
	}
	if err == nil {
		return cpuSqueeze{
			how:  fmt.Sprintf("cgroup CPU quota of %.1f core", cores),
			lift: func() error { return g.SetCPU(0) },
			bites: func() (bool, string) {
				n, err := g.Throttled()
				return err == nil && n > 0, fmt.Sprintf("%d periods throttled (err %v)", n, err)
			},
		}
	}
	t.Logf("no CPU cgroup (%v): pinning the service to one core next to busy processes instead", err)
	c, err := resource.Contend(3, pid)
	if err != nil {
		t.Fatalf("neither a CPU cgroup nor CPU contention: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Lift(); err != nil {
			t.Error(err)
		}
	})
	return cpuSqueeze{how: "one core shared with 3 busy processes", lift: c.Lift,
		bites: func() (bool, string) { return true, "contention (no throttling counter)" }}
}

// throughput is how many normal chats workers keep-alive clients complete per second over d,
// straight to the service (no proxy in the way: the service is the bottleneck measured).
func (e *env) throughput(workers int, d time.Duration) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	n := e.load(ctx, workers, func(ctx context.Context, c *client.Client) error {
		_, _, err := c.Chat(ctx, client.ChatRequest{Model: "gpt-4o-mini", Messages: userMessage("throughput")})
		return err
	})
	return float64(n) / d.Seconds()
}

// load runs call in a loop on workers keep-alive clients until ctx ends; it returns how many
// calls succeeded.
func (e *env) load(ctx context.Context, workers int, call func(context.Context, *client.Client) error) int64 {
	c := client.New(e.svc.URL)
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	c.HTTP = &http.Client{Transport: tr}
	var done atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				if call(ctx, c) == nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return done.Load()
}

// probeHealth polls /healthz every 50 ms until stop is closed; it returns the slowest answer
// and how many probes failed out of how many.
func (e *env) probeHealth(stop <-chan struct{}) (wait func() (slowest time.Duration, failed, total int)) {
	var slowest time.Duration
	var failed, total int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			start := time.Now()
			_, resp, err := e.direct.Health(context.Background())
			total++
			if err != nil || resp.Status != http.StatusOK {
				failed++
			}
			slowest = max(slowest, time.Since(start))
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() (time.Duration, int, int) { <-done; return slowest, failed, total }
}

// A service starved of CPU (a tenth of a core) under load still ends requests at their
// deadline with a 504, on time within a tolerance; /healthz keeps answering; nothing
// deadlocks; and once the cap is lifted its throughput comes back.
func TestResourceCPUStarvation(t *testing.T) {
	tn := defaultTune()
	tn.MaxInFlight = 256
	tn.HeaderTimeout = 3 * time.Second // the deadline, not the header timeout, must end the requests
	tn.MaxRetries = 0
	e := newEnv(t, setup{tune: tn})
	const workers = 8
	base := e.throughput(workers, time.Second)
	sq := squeezeCPU(t, e.svc.Cmd.Process.Pid)

	stop := make(chan struct{})
	health := e.probeHealth(stop)
	starved := e.throughput(workers, 1500*time.Millisecond)

	// Requests that need no upstream keep the starved service busy while deadlines run out.
	busy, endBusy := context.WithCancel(context.Background())
	busyDone := make(chan int64, 1)
	go func() {
		busyDone <- e.load(busy, workers, func(ctx context.Context, c *client.Client) error {
			_, _, err := c.Models(ctx)
			return err
		})
	}()
	e.setSim(launch.SimBehaviour{Latency: "3s"}) // far beyond the 1 s chat deadline
	const n = 6
	rs := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { rs[i] = e.chat(context.Background(), "gpt-4o-mini", "starved of CPU") })
	}
	wg.Wait()
	endBusy()
	busyCalls := <-busyDone
	e.setSim(launch.SimBehaviour{})
	close(stop)
	slowest, failed, total := health()

	for i, r := range rs {
		if r.Status != http.StatusGatewayTimeout || r.Type != "timeout" {
			t.Errorf("request %d: %v, want 504 timeout", i, r)
			continue
		}
		// The quota hands out CPU in 10 ms slices every 100 ms: a timer may wait a few periods.
		within(t, fmt.Sprintf("request %d's 504", i), r.Elapsed, tn.Chat, tn.Chat+600*time.Millisecond)
	}
	if failed > 0 || slowest > time.Second {
		t.Errorf("/healthz while starved: %d of %d failed, slowest %s; want all 200 within 1s", failed, total, slowest.Round(time.Millisecond))
	}
	if ok, why := sq.bites(); !ok {
		t.Errorf("the CPU squeeze never held the service back: %s", why)
	}

	if err := sq.lift(); err != nil {
		t.Fatal(err)
	}
	var recovered float64
	took := eventually(t, 10*time.Second, "throughput back to half its baseline once the cap is lifted", func() (bool, string) {
		recovered = e.throughput(workers, 500*time.Millisecond)
		return recovered >= base/2, fmt.Sprintf("%.0f req/s (baseline %.0f)", recovered, base)
	})
	if starved >= recovered {
		t.Errorf("throughput %.0f req/s while starved, %.0f after: the squeeze made no difference", starved, recovered)
	}
	_, why := sq.bites()
	t.Logf("%s: 504s at %s..%s next to %d other requests; /healthz %d probes, slowest %s; throughput %.0f → %.0f → %.0f req/s (back in %s); %s",
		sq.how, minElapsed(rs).Round(time.Millisecond), maxElapsed(rs).Round(time.Millisecond), busyCalls, total,
		slowest.Round(time.Millisecond), base, starved, recovered, took.Round(time.Millisecond), why)
}

func minElapsed(rs []result) time.Duration {
	m := rs[0].Elapsed
	for _, r := range rs[1:] {
		m = min(m, r.Elapsed)
	}
	return m
}

func maxElapsed(rs []result) time.Duration {
	var m time.Duration
	for _, r := range rs {
		m = max(m, r.Elapsed)
	}
	return m
}

// outcome is how one request of a load ended, as the client saw it.
type outcome struct {
	status int    // 0: no HTTP answer
	code   string // error.code of an error answer
	retry  string // Retry-After
	done   bool   // a 200 that is complete: a chat answer, or a stream ending in [DONE]
	err    error  // transport or stream failure
}

// clean reports whether the client got an answer it can act on: a complete 200, or a refusal
// that says when to come back. Anything else is a request lost or broken under pressure.
func (o outcome) clean() bool {
	switch {
	case o.err != nil:
		return false
	case o.status == http.StatusOK:
		return o.done
	case o.status == http.StatusServiceUnavailable && o.code == "memory_pressure",
		o.status == http.StatusTooManyRequests && o.code == "overloaded":
		return o.retry != ""
	}
	return false
}

func (o outcome) String() string {
	return fmt.Sprintf("%d %s (Retry-After %q, complete %v, err %v)", o.status, o.code, o.retry, o.done, o.err)
}

func answered(err error) outcome {
	var ae *client.APIError
	if errors.As(err, &ae) {
		o := outcome{status: ae.Status, retry: ae.Header.Get("Retry-After")}
		if ae.Body.Error.Code != nil {
			o.code = *ae.Body.Error.Code
		}
		return o
	}
	return outcome{err: err}
}

// bigChat sends a chat whose prompt is size bytes.
func bigChat(ctx context.Context, c *client.Client, prompt string) outcome {
	resp, raw, err := c.Chat(ctx, client.ChatRequest{Model: "gpt-4o-mini", Messages: userMessage(prompt)})
	if err != nil {
		return answered(err)
	}
	return outcome{status: raw.Status, done: resp != nil && len(resp.Choices) > 0}
}

// openStream reads a whole stream.
func openStream(ctx context.Context, c *client.Client, prompt string) outcome {
	st, err := c.ChatStream(ctx, client.ChatRequest{Model: "gpt-4o-mini", Messages: userMessage(prompt)})
	if err != nil {
		return answered(err)
	}
	evs, err := st.Collect()
	o := outcome{status: st.Response.StatusCode, err: err}
	if len(evs) > 0 {
		last := evs[len(evs)-1]
		o.done = last.Done
		if last.Error != nil && last.Error.Error.Code != nil {
			o.code = *last.Error.Error.Code // how the stream ended instead
		}
	}
	return o
}

// A service with a hard memory limit of 128 MiB, under a ramp of 1 MiB chats and long open
// streams that would need several times that: it sheds new requests (503 memory_pressure with
// Retry-After) before the kernel kills it, every request gets a complete answer or such a
// refusal, gctune's soft limit follows the cgroup's, and once the load is gone it serves again.
// Where no memory cgroup can be made, the cgroup variant says why and skips; the GOMEMLIMIT
// variant (the same soft limit, no hard one) runs anyway.
func TestResourceMemoryPressure(t *testing.T) {
	const hard = 128 << 20
	const soft = hard * 8 / 10 // gctune's share (LimitShare 0.8) of a cgroup limit, rounded down as it does
	tests := []struct {
		name  string
		start func(t *testing.T, s *setup) *resource.Group
	}{
		{"cgroup", func(t *testing.T, s *setup) *resource.Group {
			g, err := newTestGroup(t, "aiservice-mem", "memory")
			if err == nil {
				err = g.SetMemory(hard)
			}
			if err != nil {
				t.Skipf("no memory cgroup, see the GOMEMLIMIT variant: %v", err)
			}
			s.service.Cgroups = g.Procs()
			return g
		}},
		{"GOMEMLIMIT", func(t *testing.T, s *setup) *resource.Group {
			s.service.Env = []string{fmt.Sprintf("GOMEMLIMIT=%d", int64(soft))}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := defaultTune()
			tn.Chat, tn.Stream, tn.FirstToken, tn.HeaderTimeout = 10*time.Second, 10*time.Second, 8*time.Second, 8*time.Second
			tn.MaxInFlight, tn.MaxRetries = 1024, 0
			// A process reclaiming memory at its cgroup limit can stall for longer than the
			// default 200 ms connect timeout; that is a slow start, not a lost upstream.
			tn.ConnectTimeout = 2 * time.Second
			// Near its limit the collector takes CPU from the process: a chunk may come late
			// without the stream being lost.
			tn.Idle = 2 * time.Second
			// Straight to the simulator: toxiproxy runs in this test process, which is busy
			// sending the load, and would time out the service's connects.
			s := setup{tune: tn, config: func(e *env) string {
				return launch.UpstreamConfig(e.sim.URL, tn.yaml()+"max_body_bytes: 2097152\n")
			}}
			g := tt.start(t, &s)
			e := newEnv(t, s)
			if g != nil {
				checkSoftLimit(t, e.svc, soft)
			}
			memoryPressure(t, e, g, hard)
		})
	}
}

// checkSoftLimit checks gctune's choice in the start-up log line.
func checkSoftLimit(t *testing.T, svc *launch.Process, want int64) {
	t.Helper()
	if got, err := svc.SoftMemoryLimit(); err != nil || got != want {
		t.Errorf("start-up log: soft memory limit %d (err %v), want %d (80 %% of the cgroup limit)", got, err, want)
	}
}

func memoryPressure(t *testing.T, e *env, g *resource.Group, hard int64) {
	// Every admitted request holds its memory for at least a second at the simulator.
	e.setSim(launch.SimBehaviour{Latency: "1s", InterTokenDelay: "100ms", Chunks: 10})
	c := client.New(e.svc.URL)
	c.HTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	const chats, streams = 90, 60
	big, medium := strings.Repeat("memory pressure ", (900<<10)/16), strings.Repeat("open stream ", (64<<10)/12)
	stopRSS := e.rssWatch()
	m0 := e.metrics()

	outs := make([]outcome, chats+streams)
	var wg sync.WaitGroup
	ctx := context.Background()
	for i := range chats + streams {
		wg.Go(func() {
			if i < chats {
				outs[i] = bigChat(ctx, c, big)
			} else {
				outs[i] = openStream(ctx, c, medium)
			}
		})
		time.Sleep(10 * time.Millisecond) // a ramp, as traffic arrives: not one instant burst
	}
	wg.Wait()
	peakRSS, rssErr := stopRSS()

	ok, shed, lost := 0, 0, 0
	for i, o := range outs {
		switch {
		case !o.clean():
			lost++
			if lost <= 5 {
				t.Errorf("request %d: %v, want a complete 200 or a refusal with Retry-After", i, o)
			}
			if lost == 1 {
				t.Logf("service log:\n%s", grepLog(e.svc.Logs(), "request failed", 10))
			}
		case o.status == http.StatusOK:
			ok++
		default:
			shed++
		}
	}
	select {
	case <-e.svc.Done():
		t.Fatalf("the service died under memory pressure:\n%s", tail(e.svc.Logs(), 20))
	default:
	}
	if g != nil {
		kills, err := g.OOMKills()
		if err != nil || kills != 0 {
			t.Errorf("the kernel's OOM killer ran %d times in the cgroup (err %v), want 0", kills, err)
		}
	}
	if ok == 0 || shed == 0 {
		t.Errorf("%d answered, %d shed: want both (shedding under pressure, serving what fits)", ok, shed)
	}
	if got := e.metrics().value("memory_pressure_shed_total") - m0.value("memory_pressure_shed_total"); got < float64(countCode(outs, "memory_pressure")) {
		t.Errorf("memory_pressure_shed_total grew by %v, fewer than the %d memory_pressure answers", got, countCode(outs, "memory_pressure"))
	}
	if rssErr == nil && peakRSS >= float64(hard) {
		t.Errorf("peak RSS %.1f MiB, at or over the %d MiB limit", peakRSS/(1<<20), hard>>20)
	}

	// Recovery: refusals make the service collect and measure again, so a retrying client is
	// admitted soon after the load is gone.
	e.setSim(launch.SimBehaviour{})
	took := eventually(t, 5*time.Second, "a normal chat admitted after the load", func() (bool, string) {
		o := bigChat(ctx, c, "hello after the pressure")
		return o.status == http.StatusOK && o.done, o.String()
	})
	// An operator sees when it started and when it ended (the log is flushed every 100 ms).
	eventually(t, 2*time.Second, "shedding logged when it started and when it ended", func() (bool, string) {
		logs := e.svc.Logs()
		return strings.Contains(logs, "memory pressure: refusing new requests") &&
			strings.Contains(logs, "memory pressure over: admitting new requests"), grepLog(logs, "memory pressure", 4)
	})
	peak := ""
	if g != nil {
		if p, err := g.PeakMemory(); err == nil {
			peak = fmt.Sprintf(", cgroup peak %.1f MiB", float64(p)/(1<<20))
		}
	}
	t.Logf("%d chats of 900 KiB and %d streams against a %d MiB limit: %d answered, %d shed (%d memory_pressure), %d lost; peak RSS %.1f MiB%s; admitted again after %s",
		chats, streams, hard>>20, ok, shed, countCode(outs, "memory_pressure"), lost, peakRSS/(1<<20), peak, took.Round(time.Millisecond))
}

func countCode(outs []outcome, code string) int {
	n := 0
	for _, o := range outs {
		if o.code == code {
			n++
		}
	}
	return n
}

func grepLog(logs, what string, n int) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, what) && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A service out of file descriptors (RLIMIT_NOFILE lowered to what it has open plus a few,
// and those taken by held connections): each new connection gets a clean, immediate 503
// too_many_open_files with Retry-After instead of hanging in the backlog; a connection opened
// before keeps working; the process does not spin; and when descriptors are free it serves
// new connections again.
func TestResourceFDExhaustion(t *testing.T) {
	tn := defaultTune()
	tn.IdleConnTimeout = time.Minute // the existing connection's upstream connection stays pooled
	e := newEnv(t, setup{tune: tn})
	pid := e.svc.Cmd.Process.Pid
	existing := client.New(e.svc.URL)
	existing.HTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 5 * time.Second}
	mustChat := func(c *client.Client, why string) {
		t.Helper()
		if o := bigChat(context.Background(), c, "fd pressure"); o.status != http.StatusOK || !o.done {
			t.Fatalf("%s: %v, want 200", why, o)
		}
	}
	mustChat(existing, "before")

	x, err := resource.ExhaustFDs(pid, e.svc.Addr, 4, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	held, released := x.Held(), false
	t.Cleanup(func() {
		if !released {
			_ = x.Release()
		}
	})

	cpu0, err := resource.CPUTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	window := time.Now()
	fresh := client.New(e.svc.URL)
	fresh.HTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 3 * time.Second}
	// Another part of the service may take a descriptor freed for a moment (the refused
	// connection's, before the spare is taken back) or give one back: a new connection is
	// then served normally. Either way the client gets an answer at once.
	const n = 10
	var slowest time.Duration
	refused := 0
	for i := range n {
		start := time.Now()
		o := bigChat(context.Background(), fresh, "a new connection")
		slowest = max(slowest, time.Since(start))
		switch {
		case o.status == http.StatusServiceUnavailable && o.code == "too_many_open_files" && o.retry == "1":
			refused++
		case o.status == http.StatusOK && o.done:
		default:
			t.Errorf("new connection %d: %v, want 503 too_many_open_files with Retry-After 1 (or 200)", i, o)
		}
	}
	if refused == 0 {
		t.Errorf("none of %d new connections was refused: the descriptors were not exhausted", n)
	}
	if slowest > 500*time.Millisecond {
		t.Errorf("the slowest new connection took %s, want < 500ms (answered, not left waiting)", slowest.Round(time.Millisecond))
	}
	mustChat(existing, "the connection opened before the limit")
	// The refusals are done; the listener must now sit still, not retry accept in a loop.
	idle := time.Now()
	for time.Since(idle) < time.Second {
		runtime.Gosched()
		time.Sleep(50 * time.Millisecond) // a measuring window, not a wait for state
	}
	cpu1, err := resource.CPUTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(window)
	if used := cpu1 - cpu0; used > wall/5 {
		t.Errorf("the service used %s of CPU in %s out of descriptors: a busy loop", used, wall.Round(time.Millisecond))
	}

	// Descriptors come back: new connections are served again.
	released = true
	if err := x.Release(); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 5*time.Second, "a new connection served once descriptors are free", func() (bool, string) {
		o := bigChat(context.Background(), fresh, "after")
		return o.status == http.StatusOK, o.String()
	})
	// Held connections dialled once the descriptors were gone are refused too.
	if got := e.metrics().value("connections_refused_no_fd_total"); got < float64(refused) {
		t.Errorf("connections_refused_no_fd_total = %v, want at least the %d refusals", got, refused)
	}
	t.Logf("RLIMIT_NOFILE %d (was %d), %d held connections: %d of %d new connections refused, slowest %s; existing connection served; CPU %s in %s; served again after %s",
		x.Limit, x.Was, held, refused, n, slowest.Round(time.Millisecond), (cpu1 - cpu0).Round(time.Millisecond), wall.Round(time.Millisecond), took.Round(time.Millisecond))
}
