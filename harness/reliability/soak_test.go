package reliability

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"aiservice/harness/client"
	"aiservice/harness/launch"
)

// Soak: a steady rate of mixed traffic — successes, upstream errors, clients that leave
// mid-stream, requests that hit their deadline — while /metrics is sampled every second. A
// leak shows as growth: the median of the last third of the samples (after a warm-up) is
// compared with the median of the first third. Then the load stops and the service must fall
// back to its pre-load goroutine and fd baseline.
//
// SOAK_DURATION sets the length (default 15s, as in `task test`; `task soak` runs 2m).
const (
	soakRate        = 50 // requests per second
	soakMaxInFlight = 200
	// Growth allowed between the first and last thirds. Goroutines follow the requests in
	// flight, so they get a small absolute floor; a leak of one goroutine per request at 50
	// req/s passes it within a second.
	soakGoroutineGrowth = 0.20
	soakGoroutineFloor  = 10
	soakFDGrowth        = 20
	soakRSSGrowth       = 0.30
	// After the load: back to the pre-load baseline within this many goroutines / fds.
	soakSettleGoroutines = 3
	soakSettleFDs        = 3
	// The slow upstream answers after soakSlowLatency; the chat deadline ends it first.
	soakSlowLatency = 3 * time.Second
	soakChatTimeout = time.Second
)

// soakKinds is one round of the traffic mix (50 req/s → 2.5 rounds a second).
var soakKinds = []string{
	"chat", "chat", "chat", "chat", "chat", "chat", "chat", "chat", // 40 %: succeed
	"stream", "stream", "stream", // 15 %: read to [DONE]
	"disconnect", "disconnect", // 10 %: leave after the first chunk
	"flaky", "flaky", // 10 %: upstream 500 half of the time (one retry; the breaker may open)
	"timeout", "timeout", // 10 %: upstream slower than the chat deadline → 504 (or breaker open)
	"image",       // 5 %
	"agent",       // 5 %
	"completions", // 5 %: /v1/chat/completions streaming with usage
}

func soakDuration(t *testing.T) time.Duration {
	d := 15 * time.Second
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d < 6*time.Second {
			t.Fatalf("SOAK_DURATION=%q: want a duration of at least 6s", v)
		}
	}
	return d
}

type soakStats struct {
	mu       sync.Mutex
	byKind   map[string]map[string]int // kind → outcome → count
	failures []string
}

func (s *soakStats) add(kind, outcome string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKind[kind] == nil {
		s.byKind[kind] = map[string]int{}
	}
	if err != nil {
		s.byKind[kind]["unexpected"]++
		s.failures = append(s.failures, fmt.Sprintf("%s: %v", kind, err))
		return
	}
	s.byKind[kind][outcome]++
}

func TestSoak(t *testing.T) {
	duration := soakDuration(t)
	ctx := context.Background()
	up := launch.MustStartSim(t, launch.Options{})
	if err := (launch.SimControl{URL: up.URL}).SetBehaviour(ctx, launch.SimBehaviour{
		Latency: "10ms", InterTokenDelay: "10ms", Chunks: 8,
		ErrorRate: 0.5, ErrorStatus: 500, ErrorModels: []string{"gpt-4.1-mini"},
	}); err != nil {
		t.Fatal(err)
	}
	slow := launch.MustStartSim(t, launch.Options{Args: []string{"--latency", soakSlowLatency.String()}})
	// idle_conn_timeout is short so pooled upstream connections (and their goroutines) are gone
	// soon after the load stops, and the settle check can compare with the pre-load baseline.
	svc := launch.MustStartService(t, launch.Options{Config: fmt.Sprintf(`
providers:
  - {name: main, type: openai, base_url: %s/v1}
  - {name: slow, type: openai, base_url: %s/v1}
models:
  - {name: gpt-4o-mini, provider: main}
  - {name: gpt-4.1-mini, provider: main}
  - {name: gpt-4.1-nano, provider: slow}
  - {name: gpt-image-1, provider: main, kind: image}
timeouts: {chat: %s, stream: 5s, images: 5s, agents: 5s}
upstream: {idle_conn_timeout: 1s}
resilience: {max_retries: 1, backoff_base: 5ms, backoff_max: 20ms, breaker_cooldown: 1s}
`, up.URL, slow.URL, soakChatTimeout)})

	tr := &http.Transport{MaxIdleConnsPerHost: soakMaxInFlight, DisableCompression: true}
	c := client.New(svc.URL)
	c.HTTP = &http.Client{Transport: tr, Timeout: 10 * time.Second}

	// Pre-load baseline: settled, with nothing open but the scrape.
	base, err := sampleRuntime(ctx, svc.URL)
	if err != nil {
		t.Fatal(err)
	}

	stats := &soakStats{byKind: map[string]map[string]int{}}
	var (
		samples []runtimeSample
		dropped int
	)
	start := time.Now()
	sampleTick := time.NewTicker(time.Second)
	reqTick := time.NewTicker(time.Second / soakRate)
	end := time.NewTimer(duration)
	sem := make(chan struct{}, soakMaxInFlight)
	var wg sync.WaitGroup
	sent := 0
loop:
	for {
		select {
		case <-end.C:
			break loop
		case <-sampleTick.C:
			s, err := sampleRuntime(ctx, svc.URL)
			if err != nil {
				t.Errorf("sampling /metrics: %v", err)
				continue
			}
			s.At = time.Since(start)
			samples = append(samples, s)
		case <-reqTick.C:
			select {
			case sem <- struct{}{}:
			default:
				dropped++ // the service is far behind; reported and failed below
				continue
			}
			kind := soakKinds[sent%len(soakKinds)]
			n := sent
			sent++
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				outcome, err := soakRequest(ctx, c, kind, n)
				stats.add(kind, outcome, err)
			}()
		}
	}
	reqTick.Stop()
	sampleTick.Stop()
	wg.Wait()
	elapsed := time.Since(start)

	// Leak check over the thirds of the samples after the warm-up (the first fifth).
	warm := samples[min(len(samples), max(2, len(samples)/5)):]
	if len(warm) < 6 {
		t.Fatalf("only %d samples after the warm-up; the soak is too short", len(warm))
	}
	third := len(warm) / 3
	first, last := warm[:third], warm[len(warm)-third:]
	col := func(ss []runtimeSample, f func(runtimeSample) float64) []float64 {
		out := make([]float64, len(ss))
		for i, s := range ss {
			out[i] = f(s)
		}
		return out
	}
	gor := func(s runtimeSample) float64 { return s.Goroutines }
	fds := func(s runtimeSample) float64 { return s.OpenFDs }
	rss := func(s runtimeSample) float64 { return s.RSS }
	g1, g3 := median(col(first, gor)), median(col(last, gor))
	f1, f3 := median(col(first, fds)), median(col(last, fds))
	r1, r3 := median(col(first, rss)), median(col(last, rss))
	peak := runtimeSample{}
	for _, s := range samples {
		peak.Goroutines = max(peak.Goroutines, s.Goroutines)
		peak.OpenFDs = max(peak.OpenFDs, s.OpenFDs)
		peak.RSS = max(peak.RSS, s.RSS)
	}
	if g3 > g1+max(g1*soakGoroutineGrowth, soakGoroutineFloor) {
		t.Errorf("goroutines grew from a median of %.0f (first third) to %.0f (last third): over +%.0f%% — a leak", g1, g3, soakGoroutineGrowth*100)
	}
	if f3 > f1+soakFDGrowth {
		t.Errorf("open fds grew from a median of %.0f to %.0f: over +%d — a leak", f1, f3, soakFDGrowth)
	}
	if r3 > r1*(1+soakRSSGrowth) {
		t.Errorf("RSS grew from a median of %.1f MiB to %.1f MiB: over +%.0f%% — a leak", r1/(1<<20), r3/(1<<20), soakRSSGrowth*100)
	}

	// After the load: goroutines and fds back to the pre-load baseline once the client's and
	// the service's pooled connections are closed.
	tr.CloseIdleConnections()
	var settled runtimeSample
	eventually(t, 10*time.Second, "goroutines and fds back to the pre-load baseline", func() (bool, string) {
		s, err := sampleRuntime(ctx, svc.URL)
		if err != nil {
			return false, err.Error()
		}
		settled = s
		return s.Goroutines <= base.Goroutines+soakSettleGoroutines && s.OpenFDs <= base.OpenFDs+soakSettleFDs,
			fmt.Sprintf("now %.0f goroutines / %.0f fds, baseline %.0f / %.0f", s.Goroutines, s.OpenFDs, base.Goroutines, base.OpenFDs)
	})

	stats.mu.Lock()
	defer stats.mu.Unlock()
	sort.Strings(stats.failures)
	for i, f := range stats.failures {
		if i == 10 {
			t.Errorf("... and %d more unexpected outcomes", len(stats.failures)-10)
			break
		}
		t.Errorf("unexpected outcome: %s", f)
	}
	if dropped > 0 {
		t.Errorf("%d requests could not be sent: %d were already in flight", dropped, soakMaxInFlight)
	}
	// Each path of the mix must actually have been taken, or the soak proves less than it says.
	for kind, want := range map[string]string{"chat": "ok", "stream": "done", "disconnect": "left", "flaky": "upstream_error",
		"timeout": "timeout", "image": "ok", "agent": "ok", "completions": "done"} {
		if stats.byKind[kind][want] == 0 {
			t.Errorf("no %s request ended %q: %v", kind, want, stats.byKind[kind])
		}
	}
	t.Logf("soak %v at %d req/s: %d requests, outcomes %v", elapsed.Round(time.Millisecond), soakRate, sent, stats.byKind)
	t.Logf("goroutines: first third %.0f, last third %.0f, peak %.0f (baseline %.0f, after %.0f)", g1, g3, peak.Goroutines, base.Goroutines, settled.Goroutines)
	t.Logf("open fds:   first third %.0f, last third %.0f, peak %.0f (baseline %.0f, after %.0f)", f1, f3, peak.OpenFDs, base.OpenFDs, settled.OpenFDs)
	t.Logf("RSS:        first third %.1f MiB, last third %.1f MiB, peak %.1f MiB", r1/(1<<20), r3/(1<<20), peak.RSS/(1<<20))
	writeReport(t, "reliability-soak.json", map[string]any{
		"duration_s": elapsed.Seconds(), "rate_per_s": soakRate, "requests": sent, "dropped": dropped,
		"outcomes": stats.byKind, "unexpected": len(stats.failures),
		"goroutines": map[string]float64{"baseline": base.Goroutines, "first_third_median": g1, "last_third_median": g3, "peak": peak.Goroutines, "after": settled.Goroutines},
		"open_fds":   map[string]float64{"baseline": base.OpenFDs, "first_third_median": f1, "last_third_median": f3, "peak": peak.OpenFDs, "after": settled.OpenFDs},
		"rss_bytes":  map[string]float64{"first_third_median": r1, "last_third_median": r3, "peak": peak.RSS},
		"samples":    samples,
	})
}

// soakRequest sends one request of a kind and names its outcome; an error is an outcome the
// kind does not allow.
func soakRequest(ctx context.Context, c *client.Client, kind string, n int) (string, error) {
	prompt := fmt.Sprintf("soak %d", n)
	switch kind {
	case "chat", "flaky", "timeout":
		req := userChat(prompt)
		req.Model = map[string]string{"chat": "gpt-4o-mini", "flaky": "gpt-4.1-mini", "timeout": "gpt-4.1-nano"}[kind]
		start := time.Now()
		out, _, err := c.Chat(ctx, req)
		var ae *client.APIError
		switch {
		case err == nil && kind != "timeout" && len(out.Choices) == 1:
			return "ok", nil
		case kind == "flaky" && errors.As(err, &ae) && ae.Status == 502 && ae.Body.Error.Type == "upstream_error":
			return "upstream_error", nil
		case kind != "chat" && errors.As(err, &ae) && ae.Status == 503 && ae.Body.Error.Code != nil && *ae.Body.Error.Code == "circuit_open":
			// Consecutive failures (upstream errors, or deadlines) open the model's breaker.
			return "circuit_open", nil
		case kind == "timeout" && errors.As(err, &ae) && ae.Status == 504 && ae.Body.Error.Type == "timeout":
			if took := time.Since(start); took < soakChatTimeout || took > soakSlowLatency {
				return "", fmt.Errorf("504 after %v, want just after the %v deadline", took, soakChatTimeout)
			}
			return "timeout", nil
		}
		return "", fmt.Errorf("model %s: %v", req.Model, err)
	case "stream", "disconnect", "completions":
		req := userChat(prompt)
		path := "/v1/chat/stream"
		if kind == "completions" {
			path, req.Stream, req.StreamOptions = "/v1/chat/completions", true, &client.StreamOptions{IncludeUsage: true}
		}
		st, err := c.OpenStream(ctx, path, req)
		if err != nil {
			return "", err
		}
		if kind == "disconnect" {
			ev, err := st.Next()
			st.Close() // the client leaves mid-stream
			if err != nil || ev.Chunk == nil {
				return "", fmt.Errorf("first event: %v %v", ev, err)
			}
			return "left", nil
		}
		evs, err := st.Collect()
		if err != nil {
			return "", err
		}
		if len(evs) < 2 || !evs[len(evs)-1].Done || client.StreamText(evs) == "" {
			return "", fmt.Errorf("stream of %d events did not end with text and [DONE]", len(evs))
		}
		if u := evs[len(evs)-2].Chunk; u == nil || u.Usage == nil || u.Usage.CostUSD == nil {
			return "", errors.New("stream without its usage chunk before [DONE]")
		}
		return "done", nil
	case "image":
		out, _, err := c.Images(ctx, client.ImageRequest{Prompt: prompt, Size: "256x256"})
		if err != nil || len(out.Data) != 1 {
			return "", fmt.Errorf("image: %v", err)
		}
		return "ok", nil
	case "agent":
		run, _, err := c.RunAgent(ctx, "calculator", "What is 12 * 12?")
		if err != nil || run.Status != "completed" || !strings.Contains(run.Output, "144") {
			return "", fmt.Errorf("agent: %v %+v", err, run)
		}
		return "ok", nil
	}
	return "", fmt.Errorf("unknown kind %q", kind)
}
