package main

import (
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
	"time"
)

// profiler takes CPU profiles of a gateway through its pprof listener (debug_addr), so a missed
// target comes with where the time went. It is opt-in (-pprof DIR): a debug listener is not a
// shipped default, and profiling costs the profiled process a few percent.
type profiler struct{ dir string }

// freeAddr reserves a loopback port for a debug listener.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("debug port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// during profiles debugAddr for d starting at from, in the background, then takes its heap
// profile (what is in use while the load is still on); the returned function waits and returns
// `go tool pprof -top` of both (or why there is none).
func (p profiler) during(debugAddr, name string, from time.Time, d time.Duration) func() string {
	if p.dir == "" || debugAddr == "" {
		return func() string { return "" }
	}
	out := make(chan string, 1)
	go func() {
		waitUntil(context.Background(), from)
		var tops []string
		for _, k := range []struct{ kind, query string }{
			{"cpu", fmt.Sprintf("profile?seconds=%d", max(1, int(d.Seconds())))},
			{"heap", "heap"},
		} {
			top, err := p.take(debugAddr, k.query, name+"-"+k.kind)
			if err != nil {
				top = "no " + k.kind + " profile: " + err.Error()
			}
			tops = append(tops, top)
		}
		out <- strings.Join(tops, "\n\n")
	}()
	return func() string { return <-out }
}

func (p profiler) take(debugAddr, query, name string) (string, error) {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/%s", debugAddr, query))
	if err != nil {
		return "", fmt.Errorf("fetch profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch profile: status %d", resp.StatusCode)
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return "", fmt.Errorf("profile folder: %w", err)
	}
	file := filepath.Join(p.dir, name+".pprof")
	f, err := os.Create(file)
	if err != nil {
		return "", fmt.Errorf("profile file: %w", err)
	}
	_, cerr := io.Copy(f, resp.Body)
	if err := errors.Join(cerr, f.Close()); err != nil {
		return "", fmt.Errorf("write %s: %w", file, err)
	}
	// -sample_index=inuse_space applies to the heap profile; a CPU profile has no such index,
	// so it is asked for only there.
	args := []string{"tool", "pprof", "-top", "-nodecount=15"}
	if strings.HasSuffix(name, "-heap") {
		args = append(args, "-sample_index=inuse_space")
	}
	top, err := exec.Command("go", append(args, file)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %w: %s", err, top)
	}
	return strings.TrimSpace(string(top)), nil
}
