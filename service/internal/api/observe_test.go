package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// series are the sample names with labels on /metrics, without the process's own (Go runtime
// and process collectors, whose series do not depend on requests).
func (f *fixture) series() map[string]bool {
	f.t.Helper()
	out := map[string]bool{}
	for _, line := range strings.Split(string(f.do(http.MethodGet, "/metrics", "", "").body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "go_") || strings.HasPrefix(line, "process_") {
			continue
		}
		out[line[:strings.LastIndexByte(line, ' ')]] = true
	}
	return out
}

// Every label value a client can influence comes from a closed set: invented methods, paths,
// models and request ids create no series (issue 16 item 3).
func TestClientsCannotCreateSeries(t *testing.T) {
	f := newFixture(t, "")
	invent := func(i int) {
		s := strings.Repeat("x", i)
		for _, m := range []string{"BREW" + s, "X" + s} {
			f.do(m, "/v1/chat", "application/json", userHi)
			f.do(m, "/v1/nowhere/"+s, "", "")
		}
		f.do(http.MethodGet, "/v1/made-up/"+s, "", "")
		f.post("/v1/chat", `{"model":"invented-`+s+`","messages":[{"role":"user","content":"x"}]}`)
		f.post("/v1/chat/completions", `{"model":"invented-`+s+`","stream":true,"messages":[{"role":"user","content":"x"}]}`)
		f.post("/v1/images", `{"model":"invented-`+s+`","prompt":"x"}`)
		f.post("/v1/agents/invented-"+s+"/runs", `{"input":"x"}`)
		f.post("/v1/chat", userHi, "X-Request-Id", "id-"+s)
	}
	invent(1)  // the first of each kind may add its (bounded) series
	f.series() // so may the first scrape, of /metrics itself
	before := f.series()
	for i := 2; i < 12; i++ {
		invent(i)
	}
	for s := range f.series() {
		if !before[s] {
			t.Errorf("a new series under invented label values: %s", s)
		}
	}
	if m := f.metric(`http_requests_total{code="405",method="OTHER",route="unmatched"}`); m < 20 {
		t.Errorf("invented methods on a known path: %v requests under method=OTHER, want ≥ 20", m)
	}
	// The access log bounds what it repeats of a client's method.
	if strings.Contains(f.log.String(), "BREW"+strings.Repeat("x", 70)) {
		t.Error("the access log repeats an unbounded method")
	}
}

// Two Authorization headers are refused, keys configured or not: which one counts is a guess a
// proxy in front may make differently (issue 16 item 9).
func TestTwoAuthorizationHeaders(t *testing.T) {
	for _, yaml := range []string{"", "api_keys: [key-one]"} {
		f := newFixture(t, yaml)
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/v1/models", nil)
		req.Header.Add("Authorization", "Bearer key-one")
		req.Header.Add("Authorization", "Bearer other")
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(b, []byte("duplicate_authorization")) {
			t.Errorf("%q: status %d %s, want 400 duplicate_authorization", yaml, resp.StatusCode, b)
		}
	}
}

// Every response names its trace: the caller's trace id when it sent one (issue 15 item 4).
func TestTraceIDIsReturned(t *testing.T) {
	f := newFixture(t, "")
	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, path := range []string{"/v1/chat", "/v1/nowhere"} {
		r := f.post(path, userHi, "traceparent", "00-"+tid+"-00f067aa0ba902b7-01")
		if got := r.header.Get("X-Trace-Id"); got != tid {
			t.Errorf("%s: X-Trace-Id %q, want the caller's %s", path, got, tid)
		}
		if r.status >= 400 && !strings.Contains(string(r.body), `"trace_id":"`+tid+`"`) {
			t.Errorf("%s: error body %s, want trace_id %s", path, r.body, tid)
		}
	}
	if got := f.post("/v1/chat", userHi).header.Get("X-Trace-Id"); len(got) != 32 {
		t.Errorf("without a traceparent: X-Trace-Id %q, want a new trace id", got)
	}
}

// An agent run is one client request: cost_request_cost_usd observes it once, with the total of
// its model calls (issue 15 item 3).
func TestAgentRunCostObservedOnce(t *testing.T) {
	f := newFixture(t, "")
	series := `cost_request_cost_usd_%s{model="gpt-4o-mini",provider="sim",route="/v1/agents/:id/runs"}`
	count, sum := strings.Replace(series, "%s", "count", 1), strings.Replace(series, "%s", "sum", 1)
	n0, s0 := f.metric(count), f.metric(sum)
	r := f.post("/v1/agents/calculator/runs", `{"input":"What is (2 + 3) * 4?"}`)
	var run struct {
		Steps []any
		Usage struct {
			CostUSD float64 `json:"cost_usd"`
		}
	}
	if err := json.Unmarshal(r.body, &run); err != nil || r.status != 200 || len(run.Steps) == 0 {
		t.Fatalf("run: %d %s", r.status, r.body)
	}
	if d := f.metric(count) - n0; d != 1 {
		t.Errorf("%s grew by %v for one run of %d model calls, want 1", count, d, len(run.Steps)+1)
	}
	if d := f.metric(sum) - s0; d < run.Usage.CostUSD*0.999 || d > run.Usage.CostUSD*1.001 {
		t.Errorf("%s grew by %v, want the run's total %v", sum, d, run.Usage.CostUSD)
	}
}
