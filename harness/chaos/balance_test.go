package chaos

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"aiservice/harness/launch"
)

// Latency injected on one deployment's hop shifts the latency policy's traffic to the other
// two within seconds, and the traffic comes back once the toxic is removed: the slow
// deployment's peak EWMA fades (latency_decay) and a probe finds it fast again.
func TestLatencyOnOneDeploymentShiftsTraffic(t *testing.T) {
	var sims []launch.SimControl
	var hops []*toxiclient.Proxy
	e := newEnv(t, setup{config: func(e *env) string {
		// d1 is the scenario's own simulator behind the "upstream" proxy; d2 and d3 get theirs.
		sims, hops = []launch.SimControl{e.simc}, []*toxiclient.Proxy{e.up}
		for i := 2; i <= 3; i++ {
			sim := launch.MustStartSim(t, launch.Options{})
			sims = append(sims, launch.SimControl{URL: sim.URL})
			hops = append(hops, e.proxy(fmt.Sprintf("d%d", i), sim.Addr))
		}
		var ds []launch.Deployment
		for i, p := range hops {
			ds = append(ds, launch.Deployment{Name: fmt.Sprintf("d%d", i+1), URL: "http://" + p.Listen})
		}
		return launch.BalancedConfig("latency", ds, "    latency_decay: 500ms\n"+e.tune.yaml())
	}})

	// share sends a batch and returns d1's part of what the simulators answered.
	share := func() (float64, string) {
		before := chatCounts(t, sims)
		const n = 30
		var wg sync.WaitGroup
		var mu sync.Mutex
		failed := 0
		for i := range n {
			wg.Go(func() {
				if r := e.chat(context.Background(), "gpt-4o-mini", fmt.Sprintf("balance %d", i)); r.Status != http.StatusOK {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			})
			if i%3 == 2 {
				wg.Wait() // three at a time: the policy sees each answer's latency
			}
		}
		wg.Wait()
		if failed > 0 {
			t.Fatalf("%d of %d requests failed while one deployment was slow", failed, n)
		}
		after := chatCounts(t, sims)
		d := []int64{after[0] - before[0], after[1] - before[1], after[2] - before[2]}
		total := d[0] + d[1] + d[2]
		return float64(d[0]) / float64(total), fmt.Sprintf("batch split %v", d)
	}

	if s, state := share(); s < 0.1 {
		t.Fatalf("before any toxic d1 got %.2f of the traffic (%s), want its share", s, state)
	}
	e.toxic(hops[0], "slow", "latency", "downstream", toxiclient.Attributes{"latency": 150})
	took := eventually(t, 5*time.Second, "traffic moves off the slow deployment", func() (bool, string) {
		s, state := share()
		return s < 0.1, state
	})
	e.removeToxic(hops[0], "slow")
	back := eventually(t, 8*time.Second, "traffic comes back to the recovered deployment", func() (bool, string) {
		s, state := share()
		return s >= 0.15, state
	})
	t.Logf("150 ms on d1's hop: traffic moved off in %s, back %s after the toxic was removed", took.Round(time.Millisecond), back.Round(time.Millisecond))
}

// chatCounts reads each simulator's chat requests.
func chatCounts(t *testing.T, sims []launch.SimControl) []int64 {
	t.Helper()
	out := make([]int64, len(sims))
	for i, s := range sims {
		st, err := s.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out[i] = st.ChatRequests
	}
	return out
}
