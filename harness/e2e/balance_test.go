package e2e

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"aiservice/harness/client"
	"aiservice/harness/launch"
)

// fleet is a gateway in front of several simulator processes, one deployment each, named
// d1, d2, d3 in order.
type fleet struct {
	svc  *launch.Process
	sims []launch.SimControl
	sdk  openai.Client
	c    *client.Client
}

// newFleet starts one simulator per argument list (its behaviour flags) and a gateway
// balancing gpt-4o-mini over them.
func newFleet(t *testing.T, policy string, weights []int, extra string, simArgs ...[]string) *fleet {
	t.Helper()
	f := &fleet{}
	var ds []launch.Deployment
	for i, args := range simArgs {
		sim := launch.MustStartSim(t, launch.Options{Args: args})
		f.sims = append(f.sims, launch.SimControl{URL: sim.URL})
		d := launch.Deployment{Name: fmt.Sprintf("d%d", i+1), URL: sim.URL}
		if weights != nil {
			d.Weight = weights[i]
		}
		ds = append(ds, d)
	}
	f.svc = launch.MustStartService(t, launch.Options{Config: launch.BalancedConfig(policy, ds, extra)})
	f.sdk = openai.NewClient(option.WithBaseURL(f.svc.URL+"/v1/"), option.WithAPIKey("sk-test-e2e"), option.WithMaxRetries(0))
	f.c = client.New(f.svc.URL)
	return f
}

// drive sends n chat completions with the official SDK over `workers` connections and returns
// the errors the client saw.
func (f *fleet) drive(t *testing.T, n, workers int) []error {
	t.Helper()
	jobs := make(chan int)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				_, err := f.sdk.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
					Model:    "gpt-4o-mini",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
				})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return errs
}

// served is each simulator's chat requests that it answered (not injected errors).
func (f *fleet) served(t *testing.T) []int64 {
	t.Helper()
	out := make([]int64, len(f.sims))
	for i, s := range f.sims {
		st, err := s.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out[i] = st.ChatRequests - st.InjectedErrors
	}
	return out
}

func (f *fleet) stats(t *testing.T, i int) launch.SimStats {
	t.Helper()
	st, err := f.sims[i].Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	if len(errs) > 0 {
		t.Fatalf("%d requests failed for the client, first: %v", len(errs), errs[0])
	}
}

func deploymentSeries(name, deployment string, labels ...string) string {
	s := name + `{deployment="` + deployment + `",model="gpt-4o-mini"`
	for i := 0; i+1 < len(labels); i += 2 {
		s += "," + labels[i] + `="` + labels[i+1] + `"`
	}
	return s + "}"
}

// The latency policy sends most traffic to the fastest of three deployments.
func TestBalanceLatencyPrefersFastest(t *testing.T) {
	f := newFleet(t, "latency", nil, "",
		[]string{"--latency", "2ms"}, []string{"--latency", "30ms"}, []string{"--latency", "80ms"})
	noErrors(t, f.drive(t, 300, 4))
	got := f.served(t)
	if share := float64(got[0]) / 300; share < 0.5 || got[0] <= got[1] || got[1] < got[2] {
		t.Errorf("served %v: want most (>= 50 %%; P2C over three gives it about 2/3) on the 2 ms deployment and the 80 ms one least", got)
	}
	m := scrape(t, f.c)
	if fast, slow := m[deploymentSeries("deployment_latency_ewma_seconds", "d1")], m[deploymentSeries("deployment_latency_ewma_seconds", "d3")]; !(fast < slow) || fast <= 0 {
		t.Errorf("latency EWMA d1 %v, d3 %v: want d1 > 0 and below d3", fast, slow)
	}
	t.Logf("3 deployments at 2/30/80 ms: %v of 300", got)
}

// The weighted policy follows the weights within 5 % over 3,000 requests.
func TestBalanceWeighted(t *testing.T) {
	weights := []int{5, 3, 2}
	f := newFleet(t, "weighted", weights, "", nil, nil, nil)
	const n = 3000
	noErrors(t, f.drive(t, n, 8))
	got := f.served(t)
	for i, w := range weights {
		want := float64(w) / 10
		if share := float64(got[i]) / n; math.Abs(share-want) > 0.05*want {
			t.Errorf("d%d: %.3f of the traffic, want %.2f ± 5 %% (%v)", i+1, share, want, got)
		}
	}
	m := scrape(t, f.c)
	for i := range weights {
		name := fmt.Sprintf("d%d", i+1)
		if v := m[deploymentSeries("deployment_requests_total", name, "outcome", "success")]; v != float64(got[i]) {
			t.Errorf("deployment_requests_total{%s,success} = %v, simulator served %d", name, v, got[i])
		}
	}
}

// A failing deployment is ejected within its breaker threshold — the client never notices, the
// retries go elsewhere — and readmitted once its cooldown has passed and it answers again. The
// cooldown is long enough that the 30 requests end before a probe, even on a busy machine.
func TestBalanceEjectsAndReadmits(t *testing.T) {
	const threshold = 3
	f := newFleet(t, "weighted", nil, fmt.Sprintf(`resilience:
  breaker_failures: %d
  breaker_cooldown: 2s
`, threshold), nil, []string{"--error-rate", "1", "--error-status", "500"}, nil)
	noErrors(t, f.drive(t, 30, 1))
	if st := f.stats(t, 1); st.ChatRequests != threshold {
		t.Errorf("the failing deployment saw %d requests, want %d (its breaker threshold)", st.ChatRequests, threshold)
	}
	state := deploymentSeries("circuit_breaker_state", "d2", "provider", "d2")
	if v := scrape(t, f.c)[state]; v != 2 {
		t.Fatalf("%s = %v, want 2 (open)", state, v)
	}
	if err := f.sims[1].Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 8*time.Second, "the recovered deployment serves again and its breaker closes", func() bool {
		noErrors(t, f.drive(t, 6, 1))
		return f.served(t)[1] > 0 && scrape(t, f.c)[state] == 0
	})
}

// A 429 storm with Retry-After on one deployment: it is cooled down, the others take the load,
// and no client sees an error.
func TestBalance429StormMovesLoad(t *testing.T) {
	f := newFleet(t, "latency", nil, "", nil, nil, nil)
	if err := f.sims[0].SetBehaviour(context.Background(), launch.SimBehaviour{ErrorRate: 1, ErrorStatus: 429, RetryAfter: "30s"}); err != nil {
		t.Fatal(err)
	}
	const n = 90
	noErrors(t, f.drive(t, n, 3))
	st := f.stats(t, 0)
	got := f.served(t)
	if got[1]+got[2] != n || st.ChatRequests > 6 {
		t.Errorf("the rate-limited deployment saw %d requests, the others served %v: want at most a few and all %d elsewhere", st.ChatRequests, got[1:], n)
	}
	if v := scrape(t, f.c)[deploymentSeries("deployment_cooldowns_total", "d1")]; v < 1 || v != float64(st.ChatRequests) {
		t.Errorf("deployment_cooldowns_total{d1} = %v, want one per 429 (%d)", v, st.ChatRequests)
	}
}

// A retry lands on a different deployment: with one retry allowed and one deployment always
// failing, every request still succeeds.
func TestBalanceRetriesElsewhere(t *testing.T) {
	f := newFleet(t, "weighted", nil, `resilience:
  max_retries: 1
  breaker_failures: 1000
`, []string{"--error-rate", "1", "--error-status", "503"}, nil, nil)
	const n = 30
	m0 := scrape(t, f.c)
	noErrors(t, f.drive(t, n, 1))
	failed := f.stats(t, 0).InjectedErrors
	got := f.served(t)
	if failed == 0 || got[1]+got[2] != n {
		t.Errorf("d1 failed %d times, d2 and d3 served %v: want every request served elsewhere", failed, got[1:])
	}
	m1 := scrape(t, f.c)
	retries := `upstream_retries_total{model="gpt-4o-mini",provider="d1"}`
	if d := m1[retries] - m0[retries]; d != float64(failed) {
		t.Errorf("upstream_retries_total grew by %v, want %d (one per failure)", d, failed)
	}
	if v := m1[deploymentSeries("deployment_requests_total", "d1", "outcome", "error")]; v != float64(failed) {
		t.Errorf("deployment_requests_total{d1,error} = %v, want %d", v, failed)
	}
}
