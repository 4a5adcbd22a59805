package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// target is one measured path: where the load goes and the process whose CPU and memory count.
type target struct {
	name, addr string
	pid        int
	debugAddr  string // pprof listener, only with -pprof
}

// pathLabels says what each path is, for the table and the charts.
var pathLabels = map[string]string{
	"direct":           "the upstream alone",
	"proxy":            "bare httputil.ReverseProxy",
	"gateway":          "gateway, 100 % trace export",
	"gateway-untraced": "gateway, tracing off",
	"gateway-10pct":    "gateway, 10 % sampling",
	// A change's cost is measured against the build before it, in the same run (-base-bin).
	"gateway-10pct-base": "gateway, 10 % sampling, the -base-bin build",
	"gateway-tuned":      "gateway, 100 % export, TUNED max_in_flight and max_streams",
}

// gatewayVariant is how one gateway path differs from the shipped defaults: where the upstream
// is (always), the telemetry that names the path, and — for the labelled tuned variant only —
// a raised in-flight cap.
type gatewayVariant struct {
	name        string
	sampleRatio string // "" leaves the default
	export      bool
	maxInFlight int    // 0: the shipped default
	debugAddr   string // a pprof listener, only with -pprof
	bin         string // "": the measured binary; else -base-bin
}

func gatewayVariants(tunedMaxInFlight int, baseBin string) []gatewayVariant {
	v := []gatewayVariant{
		{name: "gateway", sampleRatio: "1.0", export: true},
		{name: "gateway-untraced", sampleRatio: "0"},
		{name: "gateway-10pct", sampleRatio: "0.1", export: true},
	}
	if baseBin != "" {
		v = append(v, gatewayVariant{name: "gateway-10pct-base", sampleRatio: "0.1", export: true, bin: baseBin})
	}
	if tunedMaxInFlight > 0 {
		v = append(v, gatewayVariant{name: "gateway-tuned", sampleRatio: "1.0", export: true, maxInFlight: tunedMaxInFlight})
	}
	return v
}

// gatewayYAML is the whole config file of a gateway path: nothing else is overridden.
func gatewayYAML(v gatewayVariant, upstream, sink string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "providers:\n  - {name: upstream, type: openai, base_url: http://%s/v1}\n", upstream)
	b.WriteString("models:\n  - {name: gpt-4o-mini, provider: upstream}\n  - {name: gpt-image-1, provider: upstream, kind: image}\n")
	tel := []string{}
	if v.sampleRatio != "" {
		tel = append(tel, "sample_ratio: "+v.sampleRatio)
	}
	if v.export {
		tel = append(tel, "otlp_endpoint: "+sink)
	}
	if len(tel) > 0 {
		fmt.Fprintf(&b, "telemetry: {%s}\n", strings.Join(tel, ", "))
	}
	if v.maxInFlight > 0 {
		// Streams have their own budget (max_streams): the tuned path raises both.
		fmt.Fprintf(&b, "resilience: {max_in_flight: %d, max_streams: %d}\n", v.maxInFlight, v.maxInFlight)
	}
	if v.debugAddr != "" {
		fmt.Fprintf(&b, "debug_addr: %s\n", v.debugAddr)
	}
	return b.String()
}

// runProxy is the bare reverse proxy, in its own process so its CPU can be measured.
func runProxy(listen, target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("proxy target: %w", err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 1024, IdleConnTimeout: 90 * time.Second}
	rp.FlushInterval = -1 // flush SSE at once, as a gateway must
	return serveAndAnnounce(listen, rp)
}

// serveAndAnnounce listens, prints the address as the first line of stdout, and serves.
func serveAndAnnounce(listen string, h http.Handler) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Println(ln.Addr().String())
	return http.Serve(ln, h)
}

// startSink is a local OTLP/HTTP endpoint that accepts and drops spans.
func startSink() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("sink: %w", err)
	}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
		}))
	}()
	return "http://" + ln.Addr().String(), nil
}

// processes is every process a profile started, stopped together.
type processes []*exec.Cmd

func (ps processes) stop() {
	for _, cmd := range ps {
		stop(cmd)
	}
}

// startAiservice runs an aiservice subcommand and reads its address from its JSON log.
func startAiservice(bin string, args ...string) (*exec.Cmd, string, error) {
	cmd, out, err := spawn(bin, args...)
	if err != nil {
		return nil, "", err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && strings.HasSuffix(rec.Msg, "listening") && rec.Addr != "" && !strings.Contains(rec.Msg, "built-in") {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return cmd, rec.Addr, nil
		}
	}
	stop(cmd)
	return nil, "", fmt.Errorf("%v did not report its address", args)
}

// spawn starts a process with its stdout piped to the caller and its stderr passed through.
func spawn(bin string, args ...string) (*exec.Cmd, io.Reader, error) {
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("pipe: %w", err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return cmd, out, nil
}

// startGateway writes a config file and starts `aiservice serve` with it.
func startGateway(bin, yaml string) (*exec.Cmd, string, error) {
	f, err := os.CreateTemp("", "bench-*.yaml")
	if err != nil {
		return nil, "", fmt.Errorf("gateway config: %w", err)
	}
	defer os.Remove(f.Name()) // read once at start
	_, werr := f.WriteString(yaml)
	if err := errors.Join(werr, f.Close()); err != nil {
		return nil, "", fmt.Errorf("gateway config: %w", err)
	}
	return startAiservice(bin, "serve", "--addr", "127.0.0.1:0", "--config", f.Name())
}

// startPlain runs a process that prints its address as its first line.
func startPlain(bin string, args ...string) (*exec.Cmd, string, error) {
	cmd, out, err := spawn(bin, args...)
	if err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop(cmd)
		return nil, "", fmt.Errorf("%v did not print its address: %w", args, err)
	}
	return cmd, strings.TrimSpace(line), nil
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
	}
}

// startPaths starts the upstream, the proxy in front of it and each gateway variant, in the
// order they take their turns; with profile, the gateway and the tuned one get a pprof listener.
func startPaths(bin, self string, upstream []string, variants []gatewayVariant, sink string, profile bool) ([]target, processes, error) {
	var ps processes
	fail := func(err error) ([]target, processes, error) { ps.stop(); return nil, nil, err }
	var up *exec.Cmd
	var upAddr string
	var err error
	if upstream[0] == "sim" {
		up, upAddr, err = startAiservice(bin, "sim", "--addr", "127.0.0.1:0")
	} else {
		up, upAddr, err = startPlain(self, upstream...)
	}
	if err != nil {
		return fail(err)
	}
	ps = append(ps, up)
	ts := []target{{name: "direct", addr: upAddr, pid: up.Process.Pid}}
	proxy, proxyAddr, err := startPlain(self, "proxy", "127.0.0.1:0", "http://"+upAddr)
	if err != nil {
		return fail(err)
	}
	ps = append(ps, proxy)
	ts = append(ts, target{name: "proxy", addr: proxyAddr, pid: proxy.Process.Pid})
	for _, v := range variants {
		if profile && (v.name == "gateway" || v.name == "gateway-tuned") {
			if v.debugAddr, err = freeAddr(); err != nil {
				return fail(err)
			}
		}
		gwBin := bin
		if v.bin != "" {
			gwBin = v.bin
		}
		gw, addr, err := startGateway(gwBin, gatewayYAML(v, upAddr, sink))
		if err != nil {
			return fail(err)
		}
		ps = append(ps, gw)
		ts = append(ts, target{name: v.name, addr: addr, pid: gw.Process.Pid, debugAddr: v.debugAddr})
	}
	log.Printf("started %d paths in front of %s", len(ts), upstream[0])
	return ts, ps, nil
}
