package bdd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"aiservice/harness/client"
	"aiservice/harness/resource"
)

// chaos is what the resource-chaos steps of one scenario set up, and undo when it ends.
type chaos struct {
	group     *resource.Group      // the scenario's cgroup (nil: none)
	liftCPU   func() error         // gives the CPU back (nil: not limited)
	fds       *resource.Exhaustion // the service kept out of descriptors (nil: not)
	held      *client.Client       // a keep-alive connection opened before a fault
	lost      []error              // requests of a load that got no HTTP answer
	memLimit  int64                // bytes, when the service runs in a memory limit
	viaCgroup bool
}

func (w *world) registerChaosSteps(sc *godog.ScenarioContext) {
	ch := &chaos{}
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		return ctx, ch.undo()
	})

	sc.Step(`^the service runs in (\d+) MiB of memory$`, func(mib int64) error {
		if err := w.configure(); err != nil {
			return err
		}
		ch.memLimit = mib << 20
		g, err := resource.NewGroup("aiservice-bdd-mem", "memory")
		if err == nil {
			if err = g.SetMemory(ch.memLimit); err != nil {
				err = errors.Join(err, g.Remove())
			}
		}
		if err != nil {
			// Without a cgroup, the same soft limit gctune would derive from one (80 %).
			fmt.Printf("no memory cgroup (%v): the service runs with GOMEMLIMIT instead\n", err)
			w.start.Env = append(w.start.Env, fmt.Sprintf("GOMEMLIMIT=%d", ch.memLimit*8/10))
			return nil
		}
		ch.group, ch.viaCgroup = g, true
		w.start.Cgroups = g.Procs()
		return nil
	})
	sc.Step(`^the service is limited to (\d+(?:\.\d+)?) of a CPU core$`, func(cores float64) error {
		p, err := w.service()
		if err != nil {
			return err
		}
		pid := p.Cmd.Process.Pid
		g, err := resource.NewGroup("aiservice-bdd-cpu", "cpu")
		if err == nil {
			ch.group = g
			if err = errors.Join(g.Add(pid), g.SetCPU(cores)); err == nil {
				ch.liftCPU = func() error { return g.SetCPU(0) }
				return nil
			}
		}
		fmt.Printf("no CPU cgroup (%v): the service shares one core with busy processes instead\n", err)
		c, err := resource.Contend(3, pid)
		if err != nil {
			return err
		}
		ch.liftCPU = c.Lift
		return nil
	})
	sc.Step(`^the CPU limit is lifted$`, func() error {
		if ch.liftCPU == nil {
			return errors.New("the CPU was not limited")
		}
		lift := ch.liftCPU
		ch.liftCPU = nil
		return lift()
	})
	sc.Step(`^health checks answer within (\S+)$`, func(limit string) error {
		d, err := parseDuration(limit)
		if err != nil {
			return err
		}
		p, err := w.service()
		if err != nil {
			return err
		}
		for range 5 {
			start := time.Now()
			resp, err := probe.Get(p.URL + "/healthz")
			if err != nil {
				return fmt.Errorf("/healthz: %w", err)
			}
			resp.Body.Close()
			if took := time.Since(start); resp.StatusCode != http.StatusOK || took > d {
				return fmt.Errorf("/healthz answered %d after %s, want 200 within %s", resp.StatusCode, took, d)
			}
		}
		return nil
	})

	sc.Step(`^I send (\d+) large chat messages in quick succession$`, func(n int) error {
		c, err := w.client()
		if err != nil {
			return err
		}
		big := chatOf(strings.Repeat("memory pressure ", (900<<10)/16))
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range n {
			wg.Go(func() {
				ctx, cancel := reqCtx()
				defer cancel()
				_, resp, err := c.Chat(ctx, big)
				var ae *client.APIError
				if errors.As(err, &ae) {
					r := ae.Response
					resp, err = &r, nil
				}
				mu.Lock() // keep sets the last exchange: one writer at a time
				defer mu.Unlock()
				if err != nil {
					ch.lost = append(ch.lost, err)
					return
				}
				w.keep(resp)
			})
			time.Sleep(10 * time.Millisecond) // a ramp, as traffic arrives
		}
		wg.Wait()
		return nil
	})
	sc.Step(`^every response is an answer or a refusal to retry later$`, func() error {
		if len(ch.lost) > 0 {
			return fmt.Errorf("%d requests got no answer at all, e.g. %v", len(ch.lost), ch.lost[0])
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, r := range w.responses {
			refusal := r.Status == http.StatusServiceUnavailable || r.Status == http.StatusTooManyRequests
			if r.Status != http.StatusOK && !(refusal && r.Header.Get("Retry-After") != "") {
				return fmt.Errorf("a response %d (Retry-After %q): %s", r.Status, r.Header.Get("Retry-After"), r.Body)
			}
		}
		return nil
	})
	sc.Step(`^the service is still running$`, func() error {
		p, err := w.service()
		if err != nil {
			return err
		}
		select {
		case <-p.Done():
			return fmt.Errorf("the service exited:\n%s", p.Logs())
		default:
		}
		if ch.viaCgroup {
			if kills, err := ch.group.OOMKills(); err != nil || kills > 0 {
				return fmt.Errorf("the kernel's OOM killer ran %d times (err %v)", kills, err)
			}
		}
		return nil
	})
	sc.Step(`^the service's soft memory limit follows its memory limit$`, func() error {
		p, err := w.service()
		if err != nil {
			return err
		}
		if !ch.viaCgroup {
			return nil // GOMEMLIMIT set it directly; gctune leaves it alone
		}
		got, err := p.SoftMemoryLimit()
		if want := ch.memLimit * 8 / 10; err != nil || got != want {
			return fmt.Errorf("start-up log: soft memory limit %d (err %v), want %d", got, err, want)
		}
		return nil
	})

	sc.Step(`^I hold a connection open to the service$`, func() error {
		p, err := w.service()
		if err != nil {
			return err
		}
		ch.held = client.New(p.URL)
		ch.held.HTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: requestTimeout}
		return ch.heldChat()
	})
	sc.Step(`^the held connection still gets answers$`, func() error { return ch.heldChat() })
	sc.Step(`^the service runs out of file descriptors$`, func() error {
		p, err := w.service()
		if err != nil {
			return err
		}
		ch.fds, err = resource.ExhaustFDs(p.Cmd.Process.Pid, p.Addr, 4, 5*time.Second)
		return err
	})
	sc.Step(`^file descriptors are freed$`, func() error {
		if ch.fds == nil {
			return errors.New("the service was not out of file descriptors")
		}
		x := ch.fds
		ch.fds = nil
		return x.Release()
	})
	sc.Step(`^I send the chat message "([^"]*)" on a new connection$`, func(text string) error {
		p, err := w.service()
		if err != nil {
			return err
		}
		c := client.New(p.URL)
		c.HTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		ctx, cancel := reqCtx()
		defer cancel()
		start := time.Now()
		_, resp, err := c.Chat(ctx, chatOf(text))
		return w.record(resp, err, start)
	})
}

func (ch *chaos) heldChat() error {
	if ch.held == nil {
		return errors.New("no connection is held")
	}
	ctx, cancel := reqCtx()
	defer cancel()
	if _, resp, err := ch.held.Chat(ctx, chatOf("still there?")); err != nil || resp.Status != http.StatusOK {
		return fmt.Errorf("the held connection: %v", err)
	}
	return nil
}

// undo gives back what the scenario took: descriptors, CPU, and removes its cgroup (moving a
// still running service out of it first).
func (ch *chaos) undo() error {
	var errs []error
	if ch.fds != nil {
		errs = append(errs, ch.fds.Release())
	}
	if ch.liftCPU != nil {
		errs = append(errs, ch.liftCPU())
	}
	if ch.group != nil {
		errs = append(errs, ch.group.Remove())
	}
	if ch.held != nil {
		ch.held.HTTP.CloseIdleConnections()
	}
	return errors.Join(errs...)
}
