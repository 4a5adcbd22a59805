package e2e

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"aiservice/harness/client"
	"aiservice/harness/launch"
)

// slowUpstream starts a simulator whose answers take a while, and a service in front of it.
func slowUpstream(t *testing.T, b launch.SimBehaviour, serviceArgs ...string) (*launch.Process, *launch.Process) {
	t.Helper()
	sim := launch.MustStartSim(t, launch.Options{})
	if err := (launch.SimControl{URL: sim.URL}).SetBehaviour(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	svc, err := launch.StartService(context.Background(), launch.Options{Config: launch.UpstreamConfig(sim.URL, ""), Args: serviceArgs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Kill() })
	return sim, svc
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	sim, svc := slowUpstream(t, launch.SimBehaviour{Latency: "600ms", InterTokenDelay: "100ms", Chunks: 8},
		"--grace-period", "10s", "--pre-drain-delay", "300ms")
	c := client.New(svc.URL)
	ctx := context.Background()

	const n = 5
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, _, err := c.Chat(ctx, client.ChatRequest{Messages: []client.Message{client.Text("user", "slow question")}}); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			st, err := c.ChatStream(ctx, client.ChatRequest{Messages: []client.Message{client.Text("user", "slow stream")}})
			if err != nil {
				errs <- err
				return
			}
			evs, err := st.Collect()
			if err != nil {
				errs <- err
				return
			}
			if len(evs) == 0 || !evs[len(evs)-1].Done {
				errs <- errors.New("stream did not end with [DONE]")
			}
		}()
	}
	simc := launch.SimControl{URL: sim.URL}
	eventually(t, 5*time.Second, "all requests in flight upstream", func() bool {
		st, err := simc.Stats(ctx)
		return err == nil && st.InFlight == 2*n
	})

	sent := time.Now()
	if err := svc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Readiness flips at once, while the listener still accepts during the pre-drain delay.
	eventually(t, 250*time.Millisecond, "readyz answers 503", func() bool {
		_, resp, err := c.Ready(ctx)
		return err != nil && resp != nil && resp.Status == 503
	})
	// After the pre-drain delay new connections are refused.
	eventually(t, 2*time.Second, "new connections refused", func() bool {
		conn, err := net.DialTimeout("tcp", svc.Addr, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			return false
		}
		return true
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("in-flight request failed during drain: %v", err)
	}
	code, err := svc.Wait(10 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("exit code %d (%v)\n%s", code, err, svc.Logs())
	}
	if took := time.Since(sent); took > 5*time.Second {
		t.Errorf("exit took %v", took)
	}
	for _, phase := range []string{"readiness", "drain", "flush", "done"} {
		if !strings.Contains(svc.Logs(), `"phase":"`+phase+`"`) {
			t.Errorf("shutdown phase %q not logged", phase)
		}
	}
}

func TestGracePeriodEndsStreamsWithShutdownEvent(t *testing.T) {
	_, svc := slowUpstream(t, launch.SimBehaviour{InterTokenDelay: "200ms", Chunks: 40}, "--grace-period", "600ms")
	c := client.New(svc.URL)
	st, err := c.ChatStream(context.Background(), client.ChatRequest{Messages: []client.Message{client.Text("user", "a long story")}})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := st.Next(); err != nil || ev.Chunk == nil {
		t.Fatalf("first event: %v %v", ev, err)
	}
	sent := time.Now()
	if err := svc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	evs, err := st.Collect()
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Error == nil || last.Error.Error.Type != "shutdown" {
		t.Fatalf("last event = %s, want an error event of type shutdown", last.Data)
	}
	code, err := svc.Wait(5 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("exit code %d (%v)", code, err)
	}
	if took := time.Since(sent); took < 600*time.Millisecond || took > 3*time.Second {
		t.Errorf("exit after %v, want just after the 600ms grace period", took)
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	_, svc := slowUpstream(t, launch.SimBehaviour{}, "--pre-drain-delay", "20s")
	if err := svc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "readiness off", func() bool {
		_, resp, _ := client.New(svc.URL).Ready(context.Background())
		return resp != nil && resp.Status == 503
	})
	start := time.Now()
	if err := svc.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code, err := svc.Wait(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code == 0 {
		t.Error("a forced exit must not report success")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("second signal took %v to exit", took)
	}
}
