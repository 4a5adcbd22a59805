package limits

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"aiservice/harness/launch"
)

// storeTimeout is the replicas' store.timeout: no answer may wait much longer on the store.
const storeTimeout = 50 * time.Millisecond

// faulty is one replica whose store is a redis-server behind a toxiproxy proxy.
type faulty struct {
	svc   *launch.Process
	proxy *toxiclient.Proxy
	redis *launch.Redis
}

func newFaulty(t *testing.T, mode string, aof bool, extra string, timeout time.Duration) *faulty {
	t.Helper()
	r := launch.StartRedis(t, aof)
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	p, err := toxi.CreateProxy(name, "127.0.0.1:0", r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Delete() })
	store := fmt.Sprintf("store: {url: redis://%s, timeout: %v, failure_mode: %s, replicas: 2, breaker_failures: 3, breaker_cooldown: 500ms}\n%s",
		p.Listen, timeout, mode, extra)
	return &faulty{svc: launch.MustStartService(t, launch.Options{Config: config(store)}), proxy: p, redis: r}
}

func (f *faulty) decided(t *testing.T, by string) float64 {
	return metric(t, f.svc, `store_decisions_total{decision="`+by+`"}`)
}

// TestStoreFaults: latency beyond the store timeout, reset connections, and the store down
// and back, under each failure mode: every answer as the mode says and bounded by the store
// timeout (with a tolerance), recovery within seconds, no goroutine or descriptor leak.
func TestStoreFaults(t *testing.T) {
	faults := []struct {
		name  string
		apply func(t *testing.T, p *toxiclient.Proxy) (undo func())
	}{
		{"latency beyond the timeout", func(t *testing.T, p *toxiclient.Proxy) func() {
			if _, err := p.AddToxic("slow", "latency", "downstream", 1, toxiclient.Attributes{"latency": 500}); err != nil {
				t.Fatal(err)
			}
			return func() { _ = p.RemoveToxic("slow") }
		}},
		{"connection reset", func(t *testing.T, p *toxiclient.Proxy) func() {
			if _, err := p.AddToxic("reset", "reset_peer", "upstream", 1, toxiclient.Attributes{"timeout": 0}); err != nil {
				t.Fatal(err)
			}
			return func() { _ = p.RemoveToxic("reset") }
		}},
		{"down and back", func(t *testing.T, p *toxiclient.Proxy) func() {
			if err := p.Disable(); err != nil {
				t.Fatal(err)
			}
			return func() { _ = p.Enable() }
		}},
	}
	for _, mode := range []struct{ name, want string }{{"fail_open", ""}, {"fail_closed", "limits_unavailable"}} {
		for _, fault := range faults {
			t.Run(mode.name+"/"+fault.name, func(t *testing.T) {
				f := newFaulty(t, mode.name, false, "", storeTimeout)
				if s, _, _, err := post(f.svc.URL, rpmKey, chatRequest); err != nil || s != 200 {
					t.Fatalf("before the fault: %d %v", s, err)
				}
				goroutines, fds := metric(t, f.svc, "go_goroutines"), metric(t, f.svc, "process_open_fds")
				undo := fault.apply(t, f.proxy)
				for i := range 20 {
					start := time.Now()
					status, code, _, err := post(f.svc.URL, rpmKey, chatRequest)
					took := time.Since(start)
					if err != nil {
						t.Fatal(err)
					}
					if took > storeTimeout+time.Second {
						t.Fatalf("request %d took %v with a %v store timeout", i, took, storeTimeout)
					}
					if mode.want == "" && status != 200 || mode.want != "" && (status != 503 || code != mode.want) {
						t.Fatalf("request %d under %s: %d %s", i, mode.name, status, code)
					}
				}
				if f.decided(t, mode.name) == 0 {
					t.Fatalf("no %s decision counted", mode.name)
				}
				undo()
				before := f.decided(t, "store")
				took := eventually(t, 10*time.Second, "decisions by the store again", func() bool {
					s, _, _, _ := post(f.svc.URL, rpmKey, chatRequest)
					return s == 200 && f.decided(t, "store") > before
				})
				t.Logf("recovered %v after the fault ended", took)
				eventually(t, 10*time.Second, "goroutines and descriptors back to their level", func() bool {
					return metric(t, f.svc, "go_goroutines") <= goroutines+10 && metric(t, f.svc, "process_open_fds") <= fds+10
				})
			})
		}
	}
}

// TestRedisRestartUnderLoad: redis-server (append-only) restarts gracefully while
// clients hammer one key; the replica fails closed meanwhile, and once Redis is back the limit
// still holds across the restart: it loses at most the reservations in flight — for a request
// limit, none (a store without the file would admit a whole new minute's worth).
func TestRedisRestartUnderLoad(t *testing.T) {
	// A cold burst of 50 through toxiproxy can pass 50 ms on a loaded machine: this test is
	// about what survives the restart, not the timeout.
	f := newFaulty(t, "fail_closed", true, "simulator: {latency: 20ms}", time.Second)
	start := time.Now()
	before := load(t, []string{f.svc.URL}, rpmKey, 50, 1)
	var during outcome
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); during = load(t, []string{f.svc.URL}, rpmKey, 50, 4) }()
	f.redis.Stop()
	if err := f.redis.Start(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	stored := f.decided(t, "store")
	eventually(t, 10*time.Second, "decisions by the store again", func() bool {
		_, _, _, _ = post(f.svc.URL, rpmKey, chatRequest)
		return f.decided(t, "store") > stored
	})
	after := load(t, []string{f.svc.URL}, rpmKey, 50, 4)
	admitted := before.status[200] + during.status[200] + after.status[200]
	refill := int(math.Ceil(time.Since(start).Minutes() * rpmLimit))
	t.Logf("admitted before %d, during %d (503: %d), after %d; limit %d + %d refilled", before.status[200], during.status[200],
		during.status[503], after.status[200], rpmLimit, refill)
	if before.status[200] != 50 {
		t.Fatalf("before the restart: %v %v", before.status, before.codes)
	}
	if admitted > rpmLimit+refill+1 { // +1: the probe that saw the recovery
		t.Fatalf("admitted %d across the restart, limit %d + %d", admitted, rpmLimit, refill)
	}
	for _, o := range []outcome{during, after} {
		if o.status[200]+o.status[429]+o.status[503] != 200 || o.longest > 5*time.Second {
			t.Fatalf("answers other than 200, 429 and 503, or slower than 5s: %v %v (%v)", o.status, o.codes, o.longest)
		}
	}
}
