package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestProbesOnTheRunningService starts the service with each overlay's own environment and
// config file and asks it what the kubelet and Prometheus will ask: the liveness, readiness
// and metrics paths written in the manifests must answer 200. Then it sends SIGTERM, as the
// kubelet does, and checks the shutdown the manifests' timing assumes: readiness turns 503 at
// once, the listener keeps answering through the pre-drain delay, and the process exits 0
// well within terminationGracePeriodSeconds.
func TestProbesOnTheRunningService(t *testing.T) {
	for _, want := range overlays {
		t.Run(want.dir, func(t *testing.T) {
			t.Parallel()
			w, _ := workloadFromManifests(t, want.dir, mustRender(t, want.dir))
			cfg := checkServiceConfig(t, w)
			preDrain := cfg.Shutdown.PreDrainDelay.D()

			env, configYAML, err := w.serviceEnv()
			if err != nil {
				t.Fatal(err)
			}
			addr := freeAddr(t)
			env["AISERVICE_ADDR"] = addr
			// No trace export: the in-cluster collector's name does not resolve here, and this
			// test sends nothing off the machine.
			delete(env, "OTLP_ENDPOINT")
			if configYAML != "" {
				p := filepath.Join(t.TempDir(), "config.yaml")
				if err := os.WriteFile(p, []byte(configYAML), 0o600); err != nil {
					t.Fatal(err)
				}
				env["AISERVICE_CONFIG"] = p
			}
			proc := startService(t, env)
			base := "http://" + addr
			client := &http.Client{Timeout: 2 * time.Second}

			if err := waitStatus(client, base+w.readiness.path, http.StatusOK, 15*time.Second); err != nil {
				t.Fatalf("readiness %s never answered 200: %v\n%s", w.readiness.path, err, proc.output())
			}
			metricsPath := w.annotations["prometheus.io/path"]
			if metricsPath == "" {
				t.Fatal("no prometheus.io/path annotation")
			}
			for _, p := range []struct{ what, path, body string }{
				{"liveness", w.liveness.path, ""},
				{"readiness", w.readiness.path, ""},
				{"metrics", metricsPath, "# TYPE "},
			} {
				code, body, err := get(client, base+p.path)
				if err != nil || code != http.StatusOK || !strings.Contains(body, p.body) {
					t.Errorf("%s GET %s = %d %v, want 200 with %q", p.what, p.path, code, err, p.body)
				}
			}
			// A path the service does not serve is not a 200: the checks above can fail.
			if code, _, err := get(client, base+w.readiness.path+"-misspelled"); err != nil || code != http.StatusNotFound {
				t.Errorf("GET %s-misspelled = %d %v, want 404", w.readiness.path, code, err)
			}

			// The kubelet's SIGTERM.
			start := time.Now()
			if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			var first503, last503 time.Duration
			for !proc.exited() && time.Since(start) < time.Duration(w.tgps)*time.Second {
				code, _, err := get(client, base+w.readiness.path)
				if err == nil && code == http.StatusServiceUnavailable {
					if first503 == 0 {
						first503 = time.Since(start)
					}
					last503 = time.Since(start)
				}
				if err == nil && code == http.StatusOK && first503 > 0 {
					t.Errorf("readiness went back to 200 after turning 503")
				}
				time.Sleep(25 * time.Millisecond)
			}
			exitedAt, exited, exitErr := proc.waitExit(start, time.Duration(w.tgps)*time.Second-time.Since(start))
			if !exited {
				t.Fatalf("still running %ds after SIGTERM: the kubelet would SIGKILL it\n%s", w.tgps, proc.output())
			}
			if exitErr != nil {
				t.Errorf("exit after SIGTERM: %v, want status 0\n%s", exitErr, proc.output())
			}
			switch {
			case first503 == 0:
				t.Errorf("readiness never answered 503 after SIGTERM (exited after %v)", exitedAt)
			case first503 > time.Second:
				t.Errorf("readiness turned 503 only %v after SIGTERM", first503)
			}
			// The listener must keep serving through the pre-drain delay (endpoints are still
			// being removed); a generous tolerance absorbs scheduling noise on a busy machine.
			if preDrain > 0 && last503 < preDrain/2 {
				t.Errorf("last answer %v after SIGTERM, pre_drain_delay is %v: the listener closed early", last503, preDrain)
			}
			t.Logf("SIGTERM: 503 after %v, last answer after %v, exit after %v (pre-drain %v, terminationGracePeriodSeconds %d)",
				first503, last503, exitedAt, preDrain, w.tgps)
		})
	}
}

// checkServiceConfig is the effective configuration of the pod (no rule checks).
func checkServiceConfig(t *testing.T, w workload) serviceConfig {
	t.Helper()
	env, configYAML, err := w.serviceEnv()
	if err != nil {
		t.Fatalf("%s: %v", w.source, err)
	}
	cfg, err := effectiveConfig(t, env, configYAML)
	if err != nil {
		t.Fatalf("%s: %v", w.source, err)
	}
	return cfg
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("read %s: %w", url, err)
	}
	return resp.StatusCode, string(b), nil
}

// waitStatus polls until url answers want, or the timeout passes.
func waitStatus(c *http.Client, url string, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		code, _, err := get(c, url)
		if err == nil && code == want {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("status %d", code)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("after %v: %w", timeout, last)
}

// process is the service under test; its output is kept for failure messages.
type process struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
	err    error
	exitAt time.Time
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out.Len() < 1<<20 {
		p.out.Write(b)
	}
	return len(b), nil
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "service output:\n" + p.out.String()
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExit waits up to timeout for the process to exit; ok is false while it still runs.
// after is when it exited, measured from since.
func (p *process) waitExit(since time.Time, timeout time.Duration) (after time.Duration, ok bool, err error) {
	select {
	case <-p.done:
		return p.exitAt.Sub(since), true, p.err
	case <-time.After(max(timeout, 0)):
		return 0, false, nil
	}
}

// startService runs `aiservice serve` with exactly env; the test's cleanup kills it if it is
// still running.
func startService(t *testing.T, env map[string]string) *process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &process{done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, serviceBinary(t), "serve")
	p.cmd.Env = envList(env)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start aiservice serve: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.exitAt = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		var ee *exec.ExitError
		if p.err != nil && !errors.As(p.err, &ee) {
			t.Logf("aiservice: %v", p.err)
		}
	})
	return p
}
