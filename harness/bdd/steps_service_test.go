package bdd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"aiservice/harness/launch"
)

var quoted = regexp.MustCompile(`"([^"]+)"`)

func (w *world) registerServiceSteps(sc *godog.ScenarioContext) {
	sc.Step(`^the service is running$`, w.useShared)
	sc.Step(`^the service is running with a separate simulator$`, func() error { return w.configure() })
	sc.Step(`^the service is running with:$`, func(t *godog.Table) error {
		var ss []setting
		for _, r := range t.Rows {
			if len(r.Cells) != 2 {
				return errors.New("the settings table has two columns: setting | value")
			}
			ss = append(ss, setting{strings.TrimSpace(r.Cells[0].Value), strings.TrimSpace(r.Cells[1].Value)})
		}
		return w.configure(ss...)
	})
	sc.Step(`^the service is running with a (\S+) deadline for "([a-z_]+)" requests$`, func(d, group string) error {
		if _, err := parseDuration(d); err != nil {
			return err
		}
		return w.configure(setting{"timeouts." + group, d})
	})
	sc.Step(`^the service is running with the API keys? ((?:"[^"]+"(?:, | and )?)+)$`, func(list string) error {
		var keys []string
		for _, m := range quoted.FindAllStringSubmatch(list, -1) {
			keys = append(keys, m[1])
		}
		b, _ := json.Marshal(keys) // a JSON array is a YAML flow sequence
		return w.configure(setting{"api_keys", string(b)})
	})

	// `aiservice config` prints the effective configuration: the shipped defaults are verified
	// where operators read them, not by reading the source.
	sc.Step(`^I read the effective configuration$`, func() error {
		if err := w.needLocal("the local binary's `aiservice config`"); err != nil {
			return err
		}
		bin, err := launch.Binary()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "config")
		cmd.Env = []string{"PATH=/usr/bin:/bin"} // no AISERVICE_* from the developer's shell
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("aiservice config: %w", err)
		}
		w.effective = nil
		return json.Unmarshal(out, &w.effective)
	})
	sc.Step(`^the deadline for "([a-z_]+)" requests is (\S+)$`, func(group, want string) error {
		if w.effective == nil {
			return errors.New("read the effective configuration first")
		}
		wantD, err := parseDuration(want)
		if err != nil {
			return err
		}
		v, ok := jsonPath(w.effective, "timeouts."+group)
		if !ok {
			return fmt.Errorf("the configuration has no timeouts.%s", group)
		}
		s, _ := v.(string)
		got, err := parseDuration(s)
		if err != nil {
			return fmt.Errorf("timeouts.%s: %w", group, err)
		}
		if got != wantD {
			return fmt.Errorf("timeouts.%s is %s, want %s", group, got, wantD)
		}
		return nil
	})
}

func (w *world) registerUpstreamSteps(sc *godog.ScenarioContext) {
	// behave changes the simulator's behaviour. Failures are only injected into a scenario's own
	// simulator: on the shared service they would open its circuit breaker and spend its retry
	// budget, and later scenarios would see it.
	behave := func(failure bool, change func(b *launch.SimBehaviour)) error {
		if failure && w.mode != modeDedicated {
			return errors.New(`this step injects upstream failures: give the scenario a service of its own ` +
				`("Given the service is running with a separate simulator" or "... with:")`)
		}
		sim, err := w.simControl()
		if err != nil {
			return err
		}
		change(&w.behave)
		ctx, cancel := reqCtx()
		defer cancel()
		return sim.SetBehaviour(ctx, w.behave)
	}
	sc.Step(`^the upstream takes (\S+) to answer$`, func(d string) error {
		if _, err := parseDuration(d); err != nil {
			return err
		}
		return behave(false, func(b *launch.SimBehaviour) { b.Latency = d })
	})
	sc.Step(`^the upstream takes (\S+) before the first token$`, func(d string) error {
		if _, err := parseDuration(d); err != nil {
			return err
		}
		return behave(false, func(b *launch.SimBehaviour) { b.TimeToFirstToken = d })
	})
	sc.Step(`^the upstream streams its answer in (\d+) chunks (\S+) apart$`, func(n int, d string) error {
		if _, err := parseDuration(d); err != nil {
			return err
		}
		return behave(false, func(b *launch.SimBehaviour) { b.Chunks, b.InterTokenDelay = n, d })
	})
	sc.Step(`^the upstream reports no token usage$`, func() error {
		return behave(false, func(b *launch.SimBehaviour) { b.OmitUsage = true })
	})
	sc.Step(`^the upstream cuts the stream after (\d+) chunks?$`, func(n int) error {
		return behave(false, func(b *launch.SimBehaviour) { b.CutStreamAfter = n })
	})
	sc.Step(`^the upstream fails the next (\d+) requests? with status (\d+)$`, func(n, status int) error {
		return behave(true, func(b *launch.SimBehaviour) { b.FailNext, b.ErrorStatus = n, status })
	})
	sc.Step(`^the upstream fails the next (\d+) requests? with status (\d+) asking to retry after (\S+)$`, func(n, status int, d string) error {
		if _, err := parseDuration(d); err != nil {
			return err
		}
		return behave(true, func(b *launch.SimBehaviour) { b.FailNext, b.ErrorStatus, b.RetryAfter = n, status, d })
	})
	sc.Step(`^the upstream fails the next (\d+) requests? for the model "([^"]*)" with status (\d+)$`, func(n int, model string, status int) error {
		return behave(true, func(b *launch.SimBehaviour) {
			b.FailNext, b.ErrorStatus, b.ErrorModels = n, status, []string{model}
		})
	})
	sc.Step(`^the upstream fails every request with status (\d+)$`, func(status int) error {
		return behave(true, func(b *launch.SimBehaviour) { b.ErrorRate, b.ErrorStatus = 1, status })
	})
	sc.Step(`^the upstream fails every request for the model "([^"]*)" with status (\d+)$`, func(model string, status int) error {
		return behave(true, func(b *launch.SimBehaviour) {
			b.ErrorRate, b.ErrorStatus, b.ErrorModels = 1, status, []string{model}
		})
	})
	sc.Step(`^the upstream drops the connection on the next (\d+) requests?$`, func(n int) error {
		return behave(true, func(b *launch.SimBehaviour) { b.FailNext, b.DropConnection = n, true })
	})
	sc.Step(`^the upstream recovers$`, func() error {
		return behave(false, func(b *launch.SimBehaviour) { *b = launch.SimBehaviour{} })
	})

	stats := func() (launch.SimStats, error) {
		sim, err := w.simControl()
		if err != nil {
			return launch.SimStats{}, err
		}
		ctx, cancel := reqCtx()
		defer cancel()
		return sim.Stats(ctx)
	}
	sc.Step(`^the upstream received no requests$`, func() error {
		st, err := stats()
		if err != nil {
			return err
		}
		if st.Requests+st.ChatRequests+st.StreamRequests+st.ImageRequests != 0 {
			return fmt.Errorf("the upstream received requests: %+v", st)
		}
		return nil
	})
	sc.Step(`^the upstream received (\d+) (chat|stream|image) requests?$`, func(n int64, kind string) error {
		st, err := stats()
		if err != nil {
			return err
		}
		got := map[string]int64{"chat": st.ChatRequests, "stream": st.StreamRequests, "image": st.ImageRequests}[kind]
		if got != n {
			return fmt.Errorf("the upstream received %d %s requests, want %d (%+v)", got, kind, n, st)
		}
		return nil
	})
	sc.Step(`^the upstream was last asked for the model "([^"]*)"$`, func(model string) error {
		st, err := stats()
		if err != nil {
			return err
		}
		if st.LastModel != model {
			return fmt.Errorf("the upstream was last asked for %q, want %q", st.LastModel, model)
		}
		return nil
	})
	sc.Step(`^the simulator saw the request cancelled$`, func() error {
		return poll(3*time.Second, func() error {
			st, err := stats()
			if err != nil {
				return err
			}
			if st.Canceled < 1 {
				return fmt.Errorf("the simulator saw no cancelled request (%+v)", st)
			}
			return nil
		})
	})

	// Trace context: the simulator remembers the last traceparent it received.
	traceparent := func() ([]string, error) {
		st, err := stats()
		if err != nil {
			return nil, err
		}
		parts := strings.Split(st.LastTraceparent, "-")
		if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
			return nil, fmt.Errorf("the upstream received no valid traceparent: %q", st.LastTraceparent)
		}
		if parts[1] == strings.Repeat("0", 32) || parts[2] == strings.Repeat("0", 16) {
			return nil, fmt.Errorf("the upstream received an all-zero trace or span id: %q", st.LastTraceparent)
		}
		return parts, nil
	}
	sc.Step(`^the upstream received the trace id "([0-9a-f]{32})"$`, func(id string) error {
		p, err := traceparent()
		if err != nil {
			return err
		}
		if p[1] != id {
			return fmt.Errorf("the upstream received trace id %s, want %s", p[1], id)
		}
		return nil
	})
	sc.Step(`^the upstream received a new trace id, not "([0-9a-f]*)"$`, func(id string) error {
		p, err := traceparent()
		if err != nil {
			return err
		}
		if p[1] == id {
			return fmt.Errorf("the upstream received the trace id %s", id)
		}
		return nil
	})
	sc.Step(`^the upstream's parent span is not "([0-9a-f]{16})"$`, func(id string) error {
		p, err := traceparent()
		if err != nil {
			return err
		}
		if p[2] == id {
			return fmt.Errorf("the upstream's parent span is the caller's own span %s: the gateway added no span", id)
		}
		return nil
	})
	sc.Step(`^the upstream's trace is (sampled|not sampled)$`, func(want string) error {
		p, err := traceparent()
		if err != nil {
			return err
		}
		sampled := p[3] == "01"
		if sampled != (want == "sampled") {
			return fmt.Errorf("the upstream's trace flags are %s, want %s", p[3], want)
		}
		return nil
	})
}
