package realdata

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aiservice/dashboards"
	"aiservice/dashboards/internal/check"
	"aiservice/dashboards/slo"
)

// allowedEmpty lists panels that may show no data after the traffic below, each with the
// reason. Empty on purpose: the traffic generates every fault the dashboards show, and
// counters of rare events use `or vector(0)` where zero is the truthful answer.
var allowedEmpty = map[string]string{}

// TestDashboardsShowRealData runs the real aiservice binary and a real Prometheus scraping it
// every second with the generated SLO rules, drives a mix of traffic with errors, fallbacks, an
// open circuit breaker, slow requests and timeouts, then evaluates every dashboard query and
// every recording rule through Prometheus's HTTP API: each must succeed and return data.
func TestDashboardsShowRealData(t *testing.T) {
	tools := requireTools(t, "prometheus", "promtool")
	root, err := check.Root()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "dashboards", "out")
	rules := filepath.Join(out, dashboards.RulesFile)
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// promtool is the reference parser of the Prometheus we deploy to.
	run(t, exec.CommandContext(ctx, tools["promtool"], "check", "rules", rules))

	bin := filepath.Join(tmp, "aiservice")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./service/cmd/aiservice")
	build.Dir = root
	run(t, build)

	svcAddr, simAddr, promAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := filepath.Join(tmp, "aiservice.yaml")
	writeFile(t, cfg, serviceConfig(simAddr))
	start(t, ctx, filepath.Join(tmp, "aiservice.log"), bin, "serve", "--config", cfg, "--addr", svcAddr, "--log-level", "warn")
	svc := "http://" + svcAddr
	waitOK(t, svc+"/readyz")

	promCfg := filepath.Join(tmp, "prometheus.yml")
	writeFile(t, promCfg, prometheusConfig(rules, svcAddr))
	start(t, ctx, filepath.Join(tmp, "prometheus.log"), tools["prometheus"],
		"--config.file="+promCfg, "--web.listen-address="+promAddr,
		"--storage.tsdb.path="+filepath.Join(tmp, "tsdb"), "--log.level=warn")
	prom := "http://" + promAddr
	waitOK(t, prom+"/-/ready")
	// rate() needs a sample from before the traffic: wait for the first scrape, which records the
	// service's counters at 0.
	waitFor(t, "the first scrape of the service", func() bool {
		n, err := instantQuery(prom, `up{job="aiservice"} == 1`)
		return err == nil && n == 1
	})

	began := time.Now()
	driveTraffic(t, svc, "http://"+simAddr)
	// Two more scrapes and rule evaluations (every second) see the last requests.
	time.Sleep(2500 * time.Millisecond)
	t.Logf("traffic and scrapes took %s", time.Since(began).Round(100*time.Millisecond))

	metrics := get(t, svc+"/metrics")
	exposed := check.ExposedFamilies(metrics)
	checkContract(t, root, exposed)

	known := map[string]bool{"ALERTS": true}
	for name, typ := range exposed {
		for _, s := range check.Series(name, typ) {
			known[s] = true
		}
	}
	spec, err := slo.Default()
	if err != nil {
		t.Fatal(err)
	}
	var records []slo.Rule
	for _, g := range spec.Rules("").Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
				records = append(records, r)
			}
		}
	}

	files, err := filepath.Glob(filepath.Join(out, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s (%v)", out, err)
	}
	queried, failed := 0, 0
	for _, f := range files {
		d, err := check.ParseDashboard(readFile(t, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, q := range d.Queries() {
			queried++
			pq, err := check.ParseQuery(q.Expr, check.AllValues)
			if err != nil {
				t.Errorf("%s: %v", q, err)
				continue
			}
			expr := pq.Expr
			for _, name := range pq.Metrics {
				if !known[name] {
					t.Errorf("%s: metric %s is not in the service's /metrics nor recorded by the SLO rules", q, name)
				}
			}
			n, err := instantQuery(prom, expr)
			switch {
			case err != nil:
				failed++
				t.Errorf("%s: %v", q, err)
			case n == 0 && allowedEmpty[q.Panel] == "":
				failed++
				t.Errorf("%s: no data for %s", q, expr)
			}
		}
	}
	for _, r := range records {
		n, err := instantQuery(prom, r.Expr)
		if err != nil || n == 0 {
			failed++
		}
		switch {
		case err != nil:
			t.Errorf("recording rule %s %v: %v", r.Record, r.Labels, err)
		case n == 0:
			t.Errorf("recording rule %s %v: no data for\n%s", r.Record, r.Labels, r.Expr)
		}
	}
	checkRuleHealth(t, prom, len(records))
	t.Logf("%d dashboard queries and %d recording rules evaluated, %d without data or failed", queried, len(records), failed)
}

// promTools names, for each binary the test runs, the variable through which
// `go tool task test:dashboards` passes the pinned build of tools/prom.
var promTools = map[string]string{"prometheus": "PROMETHEUS_BIN", "promtool": "PROMTOOL"}

// requireTools finds the Prometheus binaries: the variable the task sets, else PATH. Without
// them the test skips, whatever the environment; `go tool task test` then lists the skip at the
// end, and .ci/run fails on it.
func requireTools(t *testing.T, names ...string) map[string]string {
	t.Helper()
	paths := map[string]string{}
	var missing []string
	for _, n := range names {
		p := os.Getenv(promTools[n])
		if p == "" {
			p, _ = exec.LookPath(n)
		}
		if p == "" {
			missing = append(missing, n)
			continue
		}
		paths[n] = p
	}
	if len(missing) > 0 {
		t.Skipf("%v not found (neither %s nor PATH): run `go tool task test:dashboards`, which builds the pinned ones of tools/prom", missing, "PROMETHEUS_BIN/PROMTOOL")
	}
	return paths
}

// serviceConfig adds to the embedded defaults a simulator on a known address with its /_sim/*
// control endpoints on (the test changes its behaviour at run time), a model without a price
// and one the simulator always fails.
// realdataKey is the virtual key the traffic is sent with, so the limits_* series exist.
const realdataKey = "sk-realdata"

func serviceConfig(simAddr string) string {
	d := sha256.Sum256([]byte(realdataKey))
	return fmt.Sprintf(`keys:
  - {name: realdata, hash: "sha256:%x", rpm: 100000, tpm: 100000000, daily_usd: 1000}
simulator:
  addr: %s
  fault_injection: true
models:
  - name: gpt-4o-mini
    provider: sim
  - name: gpt-4o
    provider: sim
    fallbacks: [gpt-4o-mini]
  - name: gpt-image-1
    provider: sim
    kind: image
  - name: text-embedding-3-small
    provider: sim
    kind: embedding
  - name: sim-unpriced
    provider: sim
  - name: sim-flaky
    provider: sim
`, d, simAddr)
}

func prometheusConfig(rules, target string) string {
	return fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: aiservice
    static_configs:
      - targets: [%q]
`, rules, target)
}

// request is one kind of call in the traffic mix.
type request struct {
	path, body string
}

const hi = `"messages":[{"role":"user","content":"hi"}]`

// mix is every route group and both dialects' surfaces, client errors (malformed JSON, unknown model), a model without a
// price, one that fails and falls back, and one that fails for good (5xx, breaker opens).
var mix = []request{
	{"/v1/chat", "{" + hi + "}"},
	{"/v1/chat/stream", "{" + hi + "}"},
	{"/v1/images", `{"prompt":"a cat","size":"1024x1024"}`},
	{"/v1/agents/calculator/runs", `{"input":"what is 2+3?"}`},
	{"/v1/chat/completions", `{"model":"gpt-4o-mini",` + hi + `}`},
	{"/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,` + hi + `}`},
	{"/v1/images/generations", `{"model":"gpt-image-1","prompt":"a cat","size":"1024x1024"}`},
	{"/v1/embeddings", `{"model":"text-embedding-3-small","input":["a cat","a dog"]}`},
	{"/v1/responses", `{"model":"gpt-4o-mini","input":"hi"}`},
	{"/v1/responses", `{"model":"gpt-4o-mini","input":"hi","stream":true}`},
	{"/v1/messages", `{"model":"gpt-4o-mini","max_tokens":16,` + hi + `}`},
	{"/v1/messages", `{"model":"gpt-4o-mini","max_tokens":16,"stream":true,` + hi + `}`},
	{"/v1/chat", `{"messages":[`},
	{"/v1/chat", `{"model":"no-such-model",` + hi + `}`},
	{"/v1/chat", `{"model":"sim-unpriced",` + hi + `}`},
	{"/v1/chat", `{"model":"gpt-4o",` + hi + `}`},
	{"/v1/chat", `{"model":"sim-flaky",` + hi + `}`},
}

// slow are sent while the simulator answers after 2.6 s: over the chat latency threshold (2 s),
// and an agent run (two model calls) past its 5 s deadline, a 504.
var slow = []request{
	{"/v1/chat", "{" + hi + "}"},
	{"/v1/chat", "{" + hi + "}"},
	{"/v1/chat/stream", "{" + hi + "}"},
	{"/v1/agents/calculator/runs", `{"input":"what is 2+3?"}`},
}

var client = &http.Client{Timeout: 20 * time.Second}

func post(svc string, r request) {
	req, err := http.NewRequest(http.MethodPost, svc+r.path, strings.NewReader(r.body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+realdataKey)
	resp, err := client.Do(req)
	if err != nil {
		return // errors are part of the mix; the metrics tell what happened
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// behaviour sets the simulator's behaviour; errors always hit gpt-4o (which falls back) and
// sim-flaky.
func behaviour(t *testing.T, sim string, extra string) {
	t.Helper()
	body := `{"error_rate":1,"error_models":["gpt-4o","sim-flaky"]` + extra + `}`
	req, err := http.NewRequest(http.MethodPut, sim+"/_sim/behaviour", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("set simulator behaviour: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("set simulator behaviour %s: %s %s", body, resp.Status, b)
	}
}

// driveTraffic runs the mix from three workers for about 7 s: 2 s plain, 3 s slow (plus the
// slow batch), a few streams without usage in the answers (estimated usage), then plain again.
func driveTraffic(t *testing.T, svc, sim string) {
	behaviour(t, sim, "")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				post(svc, mix[i%len(mix)])
			}
		})
	}
	time.Sleep(2 * time.Second)
	behaviour(t, sim, `,"latency":"2600ms"`)
	for _, r := range slow {
		wg.Go(func() { post(svc, r) })
	}
	time.Sleep(3 * time.Second)
	// The workers may all be waiting on slow answers: send the streams that need this phase
	// directly, and wait for them.
	behaviour(t, sim, `,"omit_usage":true`)
	var streams sync.WaitGroup
	for range 3 {
		streams.Go(func() { post(svc, request{"/v1/chat/stream", "{" + hi + "}"}) })
	}
	streams.Wait()
	behaviour(t, sim, "")
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
}

// checkContract reports every metric of docs/metrics.md the service does not expose, or
// exposes with another type.
func checkContract(t *testing.T, root string, exposed map[string]string) {
	t.Helper()
	contract, err := check.ReadContract(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range contract {
			if !yield(k) {
				return
			}
		}
	}) {
		switch got := exposed[name]; {
		case got == "":
			t.Errorf("docs/metrics.md: %s (%s) is not in the service's /metrics after the traffic", name, contract[name])
		case got != contract[name]:
			t.Errorf("docs/metrics.md: %s is a %s, the service exposes a %s", name, contract[name], got)
		}
	}
}

type apiResponse struct {
	Status    string          `json:"status"`
	Error     string          `json:"error"`
	ErrorType string          `json:"errorType"`
	Data      json.RawMessage `json:"data"`
}

// instantQuery evaluates expr now and returns how many series have a value (NaN is no value:
// a panel would show nothing useful).
func instantQuery(prom, expr string) (int, error) {
	resp, err := client.PostForm(prom+"/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return 0, fmt.Errorf("query: %w", err)
	}
	defer resp.Body.Close()
	var r apiResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, fmt.Errorf("query: decode %s response: %w", resp.Status, err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("query %q: %s: %s", expr, r.ErrorType, r.Error)
	}
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &data); err != nil {
		return 0, fmt.Errorf("query: decode result: %w", err)
	}
	n := 0
	for _, s := range data.Result {
		v, _ := s.Value[1].(string)
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) {
			n++
		}
	}
	return n, nil
}

// checkRuleHealth fails on any rule Prometheus could not evaluate, and when it did not load
// them all.
func checkRuleHealth(t *testing.T, prom string, wantRecords int) {
	t.Helper()
	var r apiResponse
	if err := json.Unmarshal(get(t, prom+"/api/v1/rules"), &r); err != nil {
		t.Fatalf("decode rules: %v", err)
	}
	var data struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name      string `json:"name"`
				Type      string `json:"type"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatalf("decode rules: %v", err)
	}
	records := 0
	for _, g := range data.Groups {
		for _, rule := range g.Rules {
			if rule.Type == "recording" {
				records++
			}
			if rule.Health != "ok" {
				t.Errorf("rule %s in %s: health %q %s", rule.Name, g.Name, rule.Health, rule.LastError)
			}
		}
	}
	if records != wantRecords {
		t.Errorf("Prometheus loaded %d recording rules, want %d", records, wantRecords)
	}
}

func run(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
}

// start runs a process for the rest of the test, its output in logFile (printed on failure).
func start(t *testing.T, ctx context.Context, logFile, name string, args ...string) {
	t.Helper()
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		_ = log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("%s log:\n%s", filepath.Base(name), tail(b, 4000))
		}
	})
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 20s waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitOK(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(u)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 20s (last error: %v)", u, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", u, resp.Status, err, tail(b, 1000))
	}
	return b
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}
