package bdd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"aiservice/harness/launch"
)

// balance is a scenario's fleet of simulators, deployments d1, d2, … of one model.
type balance struct {
	procs    []*launch.Process
	sims     []launch.SimControl
	behave   []launch.SimBehaviour
	baseline []int64 // each simulator's answered chat requests when the fleet started
}

func (w *world) registerBalanceSteps(sc *godog.ScenarioContext) {
	b := &balance{}
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		for _, p := range b.procs {
			p.Stop(5 * time.Second)
		}
		return ctx, nil
	})
	sc.Step(`^the model "gpt-4o-mini" runs on (\d+) deployments shared by weight (\d+(?:(?:, | and )\d+)*)$`, func(n int, list string) error {
		return w.startFleet(b, n, "weighted", numbers(list))
	})
	sc.Step(`^the model "gpt-4o-mini" runs on (\d+) deployments balanced by (latency|least_busy|priority)$`, func(n int, policy string) error {
		return w.startFleet(b, n, policy, nil)
	})
	sc.Step(`^deployment (\d+) takes (\S+) to answer$`, func(i int, d string) error {
		return b.change(i, func(s *launch.SimBehaviour) { s.Latency = d })
	})
	sc.Step(`^deployment (\d+) fails every request with status (\d+)$`, func(i, status int) error {
		return b.change(i, func(s *launch.SimBehaviour) { s.ErrorRate, s.ErrorStatus = 1, status })
	})
	sc.Step(`^deployment (\d+) rate-limits every request, asking to retry after (\S+)$`, func(i int, d string) error {
		return b.change(i, func(s *launch.SimBehaviour) { s.ErrorRate, s.ErrorStatus, s.RetryAfter = 1, 429, d })
	})
	sc.Step(`^deployment (\d+) recovers$`, func(i int) error {
		return b.change(i, func(s *launch.SimBehaviour) { *s = launch.SimBehaviour{} })
	})
	sc.Step(`^the deployments served (\d+(?:(?:, | and )\d+)*) of them$`, func(list string) error {
		want := numbers(list)
		got, err := b.served()
		if err != nil || len(got) != len(want) {
			return errors.Join(err, fmt.Errorf("%d deployments served, %d expected", len(got), len(want)))
		}
		for i := range want {
			// Smooth weighted round robin is exact; 5 % leaves room for a request still counted.
			if math.Abs(float64(got[i]-int64(want[i]))) > 0.05*float64(want[i]) {
				return fmt.Errorf("the deployments served %v, want %v within 5 %%", got, want)
			}
		}
		return nil
	})
	sc.Step(`^deployment (\d+) served more than half of them$`, func(i int) error {
		got, err := b.served()
		if err != nil {
			return err
		}
		total := int64(0)
		for _, n := range got {
			total += n
		}
		if 2*got[i-1] <= total {
			return fmt.Errorf("the deployments served %v: deployment %d not more than half", got, i)
		}
		return nil
	})
	sc.Step(`^deployment (\d+) received (\d+) requests?$`, func(i int, want int64) error {
		st, err := b.stats(i)
		if err != nil {
			return err
		}
		if st.ChatRequests != want {
			return fmt.Errorf("deployment %d received %d requests, want %d", i, st.ChatRequests, want)
		}
		return nil
	})
	sc.Step(`^the circuit of deployment (\d+) is (open|closed)$`, func(i int, state string) error {
		want := map[string]float64{"closed": 0, "open": 2}[state]
		s, err := parseSelector(fmt.Sprintf(`circuit_breaker_state{deployment="d%d"}`, i))
		if err != nil {
			return err
		}
		now, err := w.settled()
		if err != nil {
			return err
		}
		if got, n := s.sum(now); n != 1 || got != want {
			return fmt.Errorf("circuit_breaker_state of deployment %d is %v (%d series), want %v (%s)", i, got, n, want, state)
		}
		return nil
	})
	sc.Step(`^within (\S+) deployment (\d+) serves again$`, func(limit string, i int) error {
		d, err := parseDuration(limit)
		if err != nil {
			return err
		}
		return poll(d, func() error {
			if err := w.chat("/v1/chat", chatOf("are you back?")); err != nil {
				return err
			}
			got, err := b.served()
			if err != nil {
				return err
			}
			if got[i-1] == 0 {
				return fmt.Errorf("deployment %d has served nothing yet (%v)", i, got)
			}
			return nil
		})
	})
}

// startFleet starts n simulators and a dedicated service balancing gpt-4o-mini over them by
// policy, with the scenario's settings.
func (w *world) startFleet(b *balance, n int, policy string, weights []int) error {
	if err := w.configure(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var ds []launch.Deployment
	for i := range n {
		p, err := launch.StartSim(ctx, launch.Options{})
		if err != nil {
			return err
		}
		b.procs, b.sims = append(b.procs, p), append(b.sims, launch.SimControl{URL: p.URL})
		d := launch.Deployment{Name: fmt.Sprintf("d%d", i+1), URL: p.URL}
		if i < len(weights) {
			d.Weight = weights[i]
		}
		ds = append(ds, d)
	}
	b.behave = make([]launch.SimBehaviour, n)
	extra, err := settingsYAML(w.settings)
	if err != nil {
		return err
	}
	o := w.start
	o.Config = launch.BalancedConfig(policy, ds, extra)
	svc, err := launch.StartService(ctx, o)
	if err != nil {
		return fmt.Errorf("start a service over %d deployments: %w", n, err)
	}
	w.svc = svc
	if b.baseline, err = b.served(); err != nil {
		return err
	}
	return w.snapshotBaseline()
}

// change updates one deployment's simulator behaviour.
func (b *balance) change(i int, f func(*launch.SimBehaviour)) error {
	if i < 1 || i > len(b.sims) {
		return fmt.Errorf("no deployment %d: the model runs on %d", i, len(b.sims))
	}
	f(&b.behave[i-1])
	return b.sims[i-1].SetBehaviour(context.Background(), b.behave[i-1])
}

func (b *balance) stats(i int) (launch.SimStats, error) {
	if i < 1 || i > len(b.sims) {
		return launch.SimStats{}, fmt.Errorf("no deployment %d: the model runs on %d", i, len(b.sims))
	}
	return b.sims[i-1].Stats(context.Background())
}

// served is each deployment's answered chat requests since the fleet started.
func (b *balance) served() ([]int64, error) {
	out := make([]int64, len(b.sims))
	for i := range b.sims {
		st, err := b.stats(i + 1)
		if err != nil {
			return nil, err
		}
		out[i] = st.ChatRequests - st.InjectedErrors
		if i < len(b.baseline) {
			out[i] -= b.baseline[i]
		}
	}
	return out, nil
}

var number = regexp.MustCompile(`\d+`)

// numbers reads "5, 3 and 2".
func numbers(list string) []int {
	var out []int
	for _, s := range number.FindAllString(strings.TrimSpace(list), -1) {
		n, _ := strconv.Atoi(s)
		out = append(out, n)
	}
	return out
}
