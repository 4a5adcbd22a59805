package pressure

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Out of descriptors, a new connection gets a clean 503 with Retry-After at once instead of
// waiting in the backlog; once descriptors are free, connections are served again.
func TestFDGuardRefusesWhenOutOfDescriptors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := NewFDGuard(ln, prometheus.NewRegistry())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })}
	go func() { _ = srv.Serve(g) }()
	t.Cleanup(func() { _ = srv.Close() })
	get := func() (*http.Response, error) {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(io.MultiReader()) // read already; keep the status and header
		resp.Header.Set("X-Body", string(body))
		return resp, err
	}
	if resp, err := get(); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("before: %v %v", resp, err)
	}

	fill := exhaustFDs(t)
	// One descriptor for the client's own socket; then the server has none to accept with.
	_ = fill[len(fill)-1].Close()
	fill = fill[:len(fill)-1]
	resp, err := get()
	if err != nil {
		t.Fatalf("out of descriptors: %v, want a 503", err)
	}
	var b struct{ Error struct{ Type, Code string } }
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		json.Unmarshal([]byte(resp.Header.Get("X-Body")), &b) != nil || b.Error.Code != "too_many_open_files" {
		t.Fatalf("out of descriptors: %d, Retry-After %q, body %s; want 503, 1, too_many_open_files",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("X-Body"))
	}
	if got := testutil.ToFloat64(g.refused); got != 1 {
		t.Errorf("connections_refused_no_fd_total = %v, want 1", got)
	}

	for _, f := range fill {
		_ = f.Close()
	}
	if resp, err := get(); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after descriptors were freed: %v %v, want 200", resp, err)
	}
}

// exhaustFDs lowers this process's soft descriptor limit a little above what is open and
// opens files until none is left; the limit comes back and the files close when the test ends.
func exhaustFDs(t *testing.T) []*os.File {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	open, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: uint64(len(open) + 16), Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	var fill []*os.File
	t.Cleanup(func() {
		for _, f := range fill {
			_ = f.Close()
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Error(err)
		}
	})
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		fill = append(fill, f)
		if len(fill) > 64 {
			t.Fatalf("opened %d files under a limit of %d open + 16", len(fill), len(open))
		}
	}
	return fill
}
