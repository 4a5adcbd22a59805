package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
	g, err := resource.NewGroup(t, "aiservice-cpu", "cpu")
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
	c, err := resource.Contend(t, 3, pid)
	if err != nil {
		t.Fatalf("neither a CPU cgroup nor CPU contention: %v", err)
	}
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
