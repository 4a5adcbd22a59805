package limits

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aiservice/harness/launch"
)

// Keys of the tests' configs: their text is what clients send, the config holds the digest.
const (
	rpmKey    = "sk-rpm-key"
	budgetKey = "sk-budget-key"
)

func digest(k string) string {
	d := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(d[:])
}

// Prices make a request's cost visible: $0.0001 an output token, nothing for input; a
// request with max_tokens 20 reserves $0.002.
const (
	maxTokens   = 20
	perRequest  = 20 * 0.0001
	budgetUSD   = 0.01
	rpmLimit    = 100
	chatRequest = `{"model":"gpt-4o-mini","max_tokens":20,"messages":[{"role":"user","content":"Tell me about rate limits"}]}`
)

// config is a replica's YAML: the two keys, the prices and the store.
func config(store string) string {
	return fmt.Sprintf(`
prices: {gpt-4o-mini: {input_per_1m: 0, output_per_1m: 100}}
resilience: {max_in_flight: 2048}
keys:
  - {name: rpm, hash: %q, rpm: %d}
  - {name: budget, hash: %q, daily_usd: %v}
%s`, digest(rpmKey), rpmLimit, digest(budgetKey), budgetUSD, store)
}

func replicas(t *testing.T, n int, cfg string) []*launch.Process {
	var out []*launch.Process
	for range n {
		out = append(out, launch.MustStartService(t, launch.Options{Config: cfg}))
	}
	return out
}

// outcome is what one load run got.
type outcome struct {
	status   map[int]int
	codes    map[string]int
	spentUSD float64 // the sum of X-Cost-USD of the answers
	longest  time.Duration
	elapsed  time.Duration
}

var hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}

// post sends one chat request with a key and returns its status, error code and cost.
func post(url, key, body string) (int, string, float64, error) {
	req, _ := http.NewRequest("POST", url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	usd, _ := strconv.ParseFloat(resp.Header.Get("X-Cost-USD"), 64)
	code := ""
	if i := strings.Index(string(b), `"code":"`); i >= 0 {
		code = strings.SplitN(string(b[i+8:]), `"`, 2)[0]
	}
	return resp.StatusCode, code, usd, nil
}

// load runs clients concurrent clients, each sending per requests in turn, spread over the
// replicas round-robin.
func load(t *testing.T, urls []string, key string, clients, per int) outcome {
	t.Helper()
	o := outcome{status: map[int]int{}, codes: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				began := time.Now()
				status, code, usd, err := post(urls[(c+i)%len(urls)], key, chatRequest)
				took := time.Since(began)
				mu.Lock()
				if err != nil {
					o.codes["transport: "+err.Error()]++
				}
				o.status[status]++
				o.codes[code]++
				o.spentUSD += usd
				o.longest = max(o.longest, took)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	o.elapsed = time.Since(start)
	return o
}

func urlsOf(ps []*launch.Process) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.URL)
	}
	return out
}

// eventually polls cond until it holds or limit passed.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// metric reads one series' value from a process's /metrics (0 when absent).
func metric(t *testing.T, p *launch.Process, series string) float64 {
	t.Helper()
	resp, err := hc.Get(p.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, series+" ") {
			v, _ := strconv.ParseFloat(strings.TrimPrefix(line, series+" "), 64)
			return v
		}
	}
	return 0
}
