// Command bench measures what the gateway adds, side by side in one run on 127.0.0.1: the same
// load against (1) the simulator directly, (2) a bare httputil.ReverseProxy in front of it — the
// floor of one extra HTTP hop — and (3) aiservice in front of it with metrics and 100 % tracing
// on. Paths alternate in rounds and the medians are reported, since a 2-core machine is noisy.
//
//	go run ./tools/bench -rounds 3 -out bench.json
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "proxy" {
		runProxy(os.Args[2], os.Args[3])
		return
	}
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// runProxy is the bare reverse proxy, in its own process so its CPU can be measured.
func runProxy(listen, target string) {
	u, err := url.Parse(target)
	if err != nil {
		log.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 1024, IdleConnTimeout: 90 * time.Second}
	rp.FlushInterval = -1 // flush SSE at once, as a gateway must
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	log.Fatal(http.Serve(ln, rp))
}

type config struct {
	rounds     int
	duration   time.Duration
	out        string
	bin        string
	concs      []int
	rates      []int
	streamConc []int
	openStream int
	skipStream bool
}

func run() error {
	var c config
	var concs, rates, streamConc string
	flag.IntVar(&c.rounds, "rounds", 3, "rounds per path (alternating)")
	flag.DurationVar(&c.duration, "duration", 3*time.Second, "duration of each measurement")
	flag.StringVar(&c.out, "out", "bench.json", "JSON results file")
	flag.StringVar(&c.bin, "bin", "", "aiservice binary (default: build it)")
	flag.StringVar(&concs, "concurrency", "1,16,64", "closed-loop concurrencies")
	flag.StringVar(&rates, "rates", "200,1000", "open-loop rates (req/s)")
	flag.StringVar(&streamConc, "streams", "16,256", "concurrent streams")
	flag.IntVar(&c.openStream, "open-streams", 1000, "streams held open for the RSS figure")
	flag.BoolVar(&c.skipStream, "skip-streams", false, "skip the streaming figures")
	flag.Parse()
	c.concs, c.rates, c.streamConc = ints(concs), ints(rates), ints(streamConc)

	if c.bin == "" {
		dir, err := os.MkdirTemp("", "bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.bin = filepath.Join(dir, "aiservice")
		if out, err := exec.Command("go", "build", "-o", c.bin, "./service/cmd/aiservice").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %w\n%s", err, out)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	sim, simAddr, err := start(c.bin, "sim", "--addr", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer stop(sim)
	proxy, proxyAddr, err := startPlain(self, "proxy", "127.0.0.1:0", "http://"+simAddr)
	if err != nil {
		return err
	}
	defer stop(proxy)
	// The gateway: default config, metrics on, tracing at 100 % into a local OTLP sink; and the
	// same gateway with tracing off, to price tracing (metrics cannot be turned off).
	gatewayYAML := func(telemetry string) string {
		return fmt.Sprintf("providers:\n  - {name: upstream, type: openai, base_url: http://%s/v1}\nmodels:\n  - {name: gpt-4o-mini, provider: upstream}\n  - {name: gpt-image-1, provider: upstream, kind: image}\ntelemetry: %s\nresilience: {max_in_flight: 4096}\n", simAddr, telemetry)
	}
	gw, gwAddr, err := startGateway(c.bin, gatewayYAML(fmt.Sprintf("{sample_ratio: 1.0, otlp_endpoint: %s}", startSink())))
	if err != nil {
		return err
	}
	defer stop(gw)
	plain, plainAddr, err := startGateway(c.bin, gatewayYAML("{sample_ratio: 0}"))
	if err != nil {
		return err
	}
	defer stop(plain)

	paths := []target{
		{name: "direct", addr: simAddr, pid: sim.Process.Pid},
		{name: "proxy", addr: proxyAddr, pid: proxy.Process.Pid},
		{name: "gateway", addr: gwAddr, pid: gw.Process.Pid},
		{name: "gateway-notrace", addr: plainAddr, pid: plain.Process.Pid},
	}
	res := map[string]map[string][]float64{}
	add := func(path, fig string, v float64) {
		if res[path] == nil {
			res[path] = map[string][]float64{}
		}
		res[path][fig] = append(res[path][fig], v)
	}
	for _, p := range paths {
		add(p.name, "rss_idle_mib", rssMiB(p.pid))
	}
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello, how are you today?"}]}`)
	streamBody := []byte(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello, how are you today?"}]}`)
	for r := 0; r < c.rounds; r++ {
		for _, p := range paths {
			u := "http://" + p.addr + "/v1/chat/completions"
			for _, n := range c.concs {
				cpu0 := cpuSeconds(p.pid)
				rps, lat, errs := closedLoop(u, body, n, c.duration)
				cpu := cpuSeconds(p.pid) - cpu0
				add(p.name, fmt.Sprintf("rps_c%d", n), rps)
				add(p.name, fmt.Sprintf("p50_ms_c%d", n), lat.q(0.5))
				add(p.name, fmt.Sprintf("errors_c%d", n), float64(errs))
				if n == 16 {
					add(p.name, "cpu_us_per_req_c16", cpu/(rps*c.duration.Seconds())*1e6)
				}
			}
			for _, rate := range c.rates {
				lat, errs := openLoop(u, body, rate, c.duration)
				for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
					add(p.name, fmt.Sprintf("p%s_ms_at_%d", qname(q), rate), lat.q(q))
				}
				add(p.name, fmt.Sprintf("errors_at_%d", rate), float64(errs))
			}
			if !c.skipStream {
				for _, n := range c.streamConc {
					sps, first, total, errs, reuse := streams(u, streamBody, n, c.duration)
					add(p.name, fmt.Sprintf("stream_conn_reused_c%d", n), reuse)
					add(p.name, fmt.Sprintf("streams_per_s_c%d", n), sps)
					add(p.name, fmt.Sprintf("first_chunk_p50_ms_c%d", n), first.q(0.5))
					add(p.name, fmt.Sprintf("stream_total_p50_ms_c%d", n), total.q(0.5))
					add(p.name, fmt.Sprintf("stream_errors_c%d", n), float64(errs))
				}
			}
			log.Printf("round %d %s done", r+1, p.name)
		}
	}
	if !c.skipStream && c.openStream > 0 {
		// RSS with many open streams: slow the simulator so streams stay open.
		for _, p := range paths {
			rss, opened := holdStreams("http://"+p.addr+"/v1/chat/completions", streamBody, c.openStream, "http://"+simAddr, p.pid)
			add(p.name, "rss_open_streams_mib", rss)
			add(p.name, "open_streams", float64(opened))
		}
	}
	for _, p := range paths {
		add(p.name, "rss_after_mib", rssMiB(p.pid))
	}

	med := map[string]map[string]float64{}
	for p, figs := range res {
		med[p] = map[string]float64{}
		for f, vs := range figs {
			med[p][f] = median(vs)
		}
	}
	report := map[string]any{"when": time.Now().UTC().Format(time.RFC3339), "rounds": c.rounds, "duration": c.duration.String(),
		"medians": med, "samples": res, "ratios": ratios(med)}
	b, _ := json.MarshalIndent(report, "", "  ")
	if err := os.WriteFile(c.out, b, 0o644); err != nil {
		return err
	}
	printTable(med)
	return nil
}

func ratios(m map[string]map[string]float64) map[string]float64 {
	out := map[string]float64{}
	g, p, d := m["gateway"], m["proxy"], m["direct"]
	safe := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	out["gateway_rps_c16_vs_proxy"] = safe(g["rps_c16"], p["rps_c16"])
	out["proxy_rps_c16_vs_direct"] = safe(p["rps_c16"], d["rps_c16"])
	out["gateway_added_p50_ms_c1"] = g["p50_ms_c1"] - d["p50_ms_c1"]
	out["proxy_added_p50_ms_c1"] = p["p50_ms_c1"] - d["p50_ms_c1"]
	out["gateway_added_p99_ms_at_200"] = g["p99_ms_at_200"] - d["p99_ms_at_200"]
	out["proxy_added_p99_ms_at_200"] = p["p99_ms_at_200"] - d["p99_ms_at_200"]
	out["gateway_cpu_per_req_vs_proxy"] = safe(g["cpu_us_per_req_c16"], p["cpu_us_per_req_c16"])
	out["gateway_streams_c16_vs_proxy"] = safe(g["streams_per_s_c16"], p["streams_per_s_c16"])
	out["tracing_rps_c16_cost"] = 1 - safe(g["rps_c16"], m["gateway-notrace"]["rps_c16"])
	return out
}

func printTable(m map[string]map[string]float64) {
	var figs []string
	for f := range m["gateway"] {
		figs = append(figs, f)
	}
	sort.Strings(figs)
	fmt.Printf("%-30s %14s %14s %14s %16s\n", "figure (median)", "direct", "proxy", "gateway", "gateway-notrace")
	for _, f := range figs {
		fmt.Printf("%-30s %14.3f %14.3f %14.3f %16.3f\n", f, m["direct"][f], m["proxy"][f], m["gateway"][f], m["gateway-notrace"][f])
	}
	fmt.Println()
	for k, v := range ratios(m) {
		fmt.Printf("%-34s %8.3f\n", k, v)
	}
}

type target struct {
	name, addr string
	pid        int
}

type lats []float64 // milliseconds

func (l lats) q(q float64) float64 {
	if len(l) == 0 {
		return 0
	}
	s := append(lats(nil), l...)
	sort.Float64s(s)
	return s[min(int(q*float64(len(s))), len(s)-1)]
}

func qname(q float64) string {
	return strings.TrimPrefix(strconv.FormatFloat(q*100, 'f', -1, 64), "0")
}

func newClient(n int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n + 16, MaxIdleConns: n + 16, IdleConnTimeout: time.Minute, DisableCompression: true}}
}

func post(c *http.Client, u string, body []byte) error {
	resp, err := c.Post(u, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// closedLoop: n workers send back to back for d; throughput and latency.
func closedLoop(u string, body []byte, n int, d time.Duration) (float64, lats, int) {
	c := newClient(n)
	defer c.CloseIdleConnections()
	for i := 0; i < n; i++ { // warm the pool
		_ = post(c, u, body)
	}
	var mu sync.Mutex
	var all lats
	var errs atomic.Int64
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine lats
			for time.Now().Before(end) {
				t := time.Now()
				if err := post(c, u, body); err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, float64(time.Since(t).Microseconds())/1000)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return float64(len(all)) / d.Seconds(), all, int(errs.Load())
}

// openLoop sends at a constant rate whatever the answers do; latency is measured from the
// intended send time, so a stall shows up (no coordinated omission).
func openLoop(u string, body []byte, rate int, d time.Duration) (lats, int) {
	c := newClient(256)
	defer c.CloseIdleConnections()
	interval := time.Second / time.Duration(rate)
	n := int(d / interval)
	start := time.Now()
	var mu sync.Mutex
	all := make(lats, 0, n)
	var errs atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2048)
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := post(c, u, body); err != nil {
				errs.Add(1)
				return
			}
			l := float64(time.Since(due).Microseconds()) / 1000
			mu.Lock()
			all = append(all, l)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, int(errs.Load())
}

// streams: n concurrent streaming clients for d; streams/s, first chunk and total times, and
// the share of streams sent on a reused connection. Clients stop reading at [DONE], as many
// SDKs do: whether the connection can then be reused depends on the server having ended the
// response by then. A stream counts as an error unless it ends with [DONE].
func streams(u string, body []byte, n int, d time.Duration) (float64, lats, lats, int, float64) {
	c := newClient(n)
	defer c.CloseIdleConnections()
	var mu sync.Mutex
	var first, total lats
	var errs, reused atomic.Int64
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				t := time.Now()
				f, again, err := oneStream(c, u, body)
				if err != nil {
					errs.Add(1)
					continue
				}
				if again {
					reused.Add(1)
				}
				mu.Lock()
				first = append(first, float64(f.Microseconds())/1000)
				total = append(total, float64(time.Since(t).Microseconds())/1000)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return float64(len(total)) / d.Seconds(), first, total, int(errs.Load()), float64(reused.Load()) / float64(max(len(total), 1))
}

// oneStream sends one stream and reads it to [DONE]: the time to the first chunk, and whether
// the request went out on a reused connection.
func oneStream(c *http.Client, u string, body []byte) (first time.Duration, reused bool, err error) {
	t := time.Now()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
	resp, err := c.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, false, fmt.Errorf("status %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return 0, false, errors.New("stream ended without [DONE]")
		}
		if first == 0 && strings.HasPrefix(line, "data: ") {
			first = time.Since(t)
		}
		if strings.HasPrefix(line, "data: [DONE]") {
			return first, reused, nil
		}
	}
}

// holdStreams opens n slow streams at once and reads the process RSS while they are open.
func holdStreams(u string, body []byte, n int, simURL string, pid int) (float64, int) {
	setSim(simURL, `{"inter_token_delay":"200ms","chunks":20}`)
	defer setSim(simURL, `{}`)
	c := newClient(n)
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var opened atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			if _, err := br.ReadString('\n'); err == nil {
				opened.Add(1)
			}
			_, _ = io.Copy(io.Discard, br)
		}()
	}
	deadline := time.Now().Add(3 * time.Second)
	for opened.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	rss := rssMiB(pid)
	cancel()
	wg.Wait()
	return rss, int(opened.Load())
}

func setSim(simURL, b string) {
	req, _ := http.NewRequest(http.MethodPut, simURL+"/_sim/behaviour", strings.NewReader(b))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// startSink is a local OTLP/HTTP endpoint that accepts and drops spans.
func startSink() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
		}))
	}()
	return "http://" + ln.Addr().String()
}

// start runs an aiservice subcommand and reads its address from its JSON log.
func start(bin string, args ...string) (*exec.Cmd, string, error) {
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
	return nil, "", fmt.Errorf("%v did not report its address", args)
}

// spawn starts a process with its stdout piped to the caller and its stderr passed through.
func spawn(bin string, args ...string) (*exec.Cmd, io.Reader, error) {
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return cmd, out, nil
}

// startGateway writes a config file and starts `aiservice serve` with it.
func startGateway(bin, yaml string) (*exec.Cmd, string, error) {
	f, err := os.CreateTemp("", "bench-*.yaml")
	if err != nil {
		return nil, "", err
	}
	defer os.Remove(f.Name()) // read once at start
	if _, err := f.WriteString(yaml); err != nil {
		return nil, "", err
	}
	if err := f.Close(); err != nil {
		return nil, "", err
	}
	return start(bin, "serve", "--addr", "127.0.0.1:0", "--config", f.Name())
}

// startPlain runs a process that prints its address as its first line.
func startPlain(bin string, args ...string) (*exec.Cmd, string, error) {
	cmd, out, err := spawn(bin, args...)
	if err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return nil, "", err
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

// cpuSeconds reads utime+stime of a process from /proc.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, n)
		}
	}
	return out
}
