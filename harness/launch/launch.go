// Package launch builds the aiservice binary once per test process and runs real service and
// simulator processes on loopback, for the BDD, contract, chaos and end-to-end suites.
package launch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build is a binary the suites need: the one $Env names when set, otherwise built once per
// test process from the package Pkg of the module in Dir (relative to the repository root;
// Standalone for a module outside go.work).
type Build struct {
	Name, Env, Dir, Pkg string
	Standalone          bool

	once sync.Once
	path string
	err  error
}

// Path builds the binary the first time it is called and returns where it is.
func (b *Build) Path() (string, error) {
	b.once.Do(func() {
		if p := os.Getenv(b.Env); p != "" {
			b.path = p
			return
		}
		root, err := RepoRoot()
		if err != nil {
			b.err = err
			return
		}
		dir, err := os.MkdirTemp("", b.Name+"-harness-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, b.Name)
		cmd := exec.Command("go", "build", "-o", b.path, b.Pkg)
		cmd.Dir = filepath.Join(root, b.Dir)
		if b.Standalone {
			cmd.Env = append(os.Environ(), "GOWORK=off")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %w\n%s", b.Name, err, out)
		}
	})
	return b.path, b.err
}

var service = &Build{Name: "aiservice", Env: "AISERVICE_BIN", Pkg: "./service/cmd/aiservice"}

// Binary returns the path of the aiservice binary: $AISERVICE_BIN when set, otherwise a fresh
// build of ./service/cmd/aiservice (once per test process).
func Binary() (string, error) { return service.Path() }

// RepoRoot walks up from the working directory to the folder holding go.work.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found above the working directory")
		}
		dir = parent
	}
}

// Options start a process.
type Options struct {
	// Args follow the subcommand, e.g. {"--grace-period", "2s"}. --addr defaults to 127.0.0.1:0.
	Args []string
	// Config is YAML written to a temporary file and passed as --config.
	Config string
	// Env is added to a minimal environment (PATH, HOME).
	Env []string
	// Addr overrides the listen address (default 127.0.0.1:0: a free port, read from the log).
	Addr string
	// Ready waits for GET /readyz 200 (service) or /healthz (sim); default on.
	NoWait bool
	// Cgroups are cgroup.procs files the process joins before the binary starts, so it runs
	// inside their limits from its first instruction (the Go runtime and gctune read them at
	// start-up). A shell writes its own pid there, then execs the binary under the same pid.
	Cgroups []string
}

// Process is a running aiservice process.
type Process struct {
	Cmd  *exec.Cmd
	Addr string // host:port it listens on
	URL  string // http://host:port

	logs   *syncBuffer
	done   chan struct{}
	exit   error
	cfgDir string
}

// StartService starts `aiservice serve` and waits until it is ready.
func StartService(ctx context.Context, o Options) (*Process, error) {
	return start(ctx, "serve", "aiservice listening", "/readyz", o)
}

// StartSim starts `aiservice sim` and waits until it answers.
func StartSim(ctx context.Context, o Options) (*Process, error) {
	return start(ctx, "sim", "simulator listening", "/healthz", o)
}

// MustStartService starts a service for a test and stops it (SIGTERM) when the test ends.
func MustStartService(t testing.TB, o Options) *Process {
	t.Helper()
	p, err := StartService(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(10 * time.Second) })
	return p
}

// MustStartSim starts a simulator for a test and stops it when the test ends.
func MustStartSim(t testing.TB, o Options) *Process {
	t.Helper()
	p, err := StartSim(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(5 * time.Second) })
	return p
}

func start(ctx context.Context, sub, readyMsg, probe string, o Options) (*Process, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	args := []string{sub, "--addr", addr}
	p := &Process{logs: &syncBuffer{}, done: make(chan struct{})}
	if o.Config != "" {
		dir, err := os.MkdirTemp("", "aiservice-cfg-")
		if err != nil {
			return nil, err
		}
		p.cfgDir = dir
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte(o.Config), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--config", path)
	}
	args = append(args, o.Args...)
	cmd := exec.Command(bin, args...)
	if len(o.Cgroups) > 0 {
		cmd = inCgroups(o.Cgroups, bin, args)
	}
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, o.Env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", sub, err)
	}
	p.Cmd = cmd
	addrCh := make(chan string, 1)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = p.logs.Write(append(line, '\n'))
			if !sent {
				var rec struct {
					Msg  string `json:"msg"`
					Addr string `json:"addr"`
				}
				if json.Unmarshal(line, &rec) == nil && rec.Msg == readyMsg {
					addrCh <- rec.Addr
					sent = true
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		// Wait closes the pipe: read it to the end first, or the last log lines are lost.
		<-readDone
		p.exit = cmd.Wait()
		close(p.done)
	}()

	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	select {
	case p.Addr = <-addrCh:
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening: %v\n%s", sub, p.exit, p.Logs())
	case <-deadline.C:
		p.Kill()
		return nil, fmt.Errorf("%s did not log %q within 30s\n%s", sub, readyMsg, p.Logs())
	case <-ctx.Done():
		p.Kill()
		return nil, ctx.Err()
	}
	p.URL = "http://" + p.Addr
	if !o.NoWait {
		if err := p.waitFor(ctx, probe, 15*time.Second); err != nil {
			p.Kill()
			return nil, err
		}
	}
	return p, nil
}

// inCgroups is a command that enters the cgroups, then becomes bin (exit 126 when a cgroup
// refuses it).
func inCgroups(procs []string, bin string, args []string) *exec.Cmd {
	const script = `n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 126; shift; n=$((n-1)); done; exec "$@"`
	shArgs := append([]string{"-c", script, "sh", strconv.Itoa(len(procs))}, procs...)
	return exec.Command("/bin/sh", append(append(shArgs, bin), args...)...)
}

func (p *Process) waitFor(ctx context.Context, path string, limit time.Duration) error {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return fmt.Errorf("process exited: %v\n%s", p.exit, p.Logs())
		}
	}
	return fmt.Errorf("%s%s not 200 within %s\n%s", p.URL, path, limit, p.Logs())
}

// Logs returns everything the process wrote so far.
func (p *Process) Logs() string { return p.logs.String() }

// LogLines returns the JSON log lines decoded (non-JSON lines are skipped).
func (p *Process) LogLines() []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(p.Logs(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// SoftMemoryLimit is the Go soft memory limit the service chose at start-up (gctune's
// `gc.memory_limit_bytes` in its "aiservice listening" log line; 0 when it set none).
func (p *Process) SoftMemoryLimit() (int64, error) {
	for _, l := range p.LogLines() {
		if l["msg"] == "aiservice listening" {
			gc, _ := l["gc"].(map[string]any)
			limit, _ := gc["memory_limit_bytes"].(float64)
			return int64(limit), nil
		}
	}
	return 0, fmt.Errorf("no \"aiservice listening\" line in the log:\n%s", p.Logs())
}

// Signal sends a signal.
func (p *Process) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the exit, up to limit, and returns the exit code (-1 if it did not exit).
func (p *Process) Wait(limit time.Duration) (int, error) {
	select {
	case <-p.done: // checked first, so Wait(0) on an exited process reports its code
	default:
		select {
		case <-p.done:
		case <-time.After(limit):
			return -1, fmt.Errorf("process %d still running after %s", p.Cmd.Process.Pid, limit)
		}
	}
	if p.exit == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(p.exit, &ee) {
		return ee.ExitCode(), nil
	}
	return -1, p.exit
}

// Stop sends SIGTERM and waits up to limit, then kills.
func (p *Process) Stop(limit time.Duration) int {
	defer p.cleanup()
	select {
	case <-p.done:
		code, _ := p.Wait(0)
		return code
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	code, err := p.Wait(limit)
	if err != nil {
		p.Kill()
	}
	return code
}

// Kill ends the process at once.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
	p.cleanup()
}

func (p *Process) cleanup() {
	if p.cfgDir != "" {
		_ = os.RemoveAll(p.cfgDir)
	}
}

// syncBuffer is a bytes.Buffer safe for the reader goroutines and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
