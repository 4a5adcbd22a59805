package e2e

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"aiservice/harness/client"
	"aiservice/harness/launch"
)

// TestMetricsAfterAKnownMix drives a known mix of requests through a fresh binary and checks the
// exact counter deltas, and the cost sums against the price table (gpt-4o-mini: $0.15 per 1M
// input tokens, $0.60 per 1M output; gpt-image-1 1024x1024 low: $0.011).
func TestMetricsAfterAKnownMix(t *testing.T) {
	svc := launch.MustStartService(t, launch.Options{})
	c := client.New(svc.URL)
	ctx := context.Background()
	msgs := func(s string) []client.Message { return []client.Message{client.Text("user", s)} }

	var in, out int
	var chatCost float64
	for _, q := range []string{"one", "two two", "three three three"} {
		resp, hr, err := c.Chat(ctx, client.ChatRequest{Messages: msgs(q)})
		if err != nil {
			t.Fatal(err)
		}
		in += resp.Usage.PromptTokens
		out += resp.Usage.CompletionTokens
		chatCost += *resp.Usage.CostUSD
		header, _ := strconv.ParseFloat(hr.Header.Get("X-Cost-USD"), 64)
		want := (float64(resp.Usage.PromptTokens)*0.15 + float64(resp.Usage.CompletionTokens)*0.60) / 1e6
		if math.Abs(*resp.Usage.CostUSD-want) > 1e-12 || math.Abs(header-want) > 1e-12 {
			t.Errorf("cost %v (header %v), want %v from the price table", *resp.Usage.CostUSD, header, want)
		}
	}
	var streamIn, streamOut int
	for i := 0; i < 2; i++ {
		st, err := c.ChatStream(ctx, client.ChatRequest{Messages: msgs("stream please")})
		if err != nil {
			t.Fatal(err)
		}
		evs, err := st.Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Chunk != nil && e.Chunk.Usage != nil {
				streamIn += e.Chunk.Usage.PromptTokens
				streamOut += e.Chunk.Usage.CompletionTokens
			}
		}
	}
	img, _, err := c.Images(ctx, client.ImageRequest{Prompt: "a kite", Size: "1024x1024", Quality: "low"})
	if err != nil {
		t.Fatal(err)
	}
	if img.Usage == nil || img.Usage.CostUSD == nil || *img.Usage.CostUSD != 0.011 {
		t.Errorf("image usage = %+v", img.Usage)
	}
	run, _, err := c.RunAgent(ctx, "calculator", "What is 7 * 6?")
	if err != nil || run.Output != "The result is 42." {
		t.Fatalf("agent run: %+v %v", run, err)
	}
	for _, body := range []string{`{"messages":[`, `{"messages":[]}`} {
		if r, err := c.Do(ctx, http.MethodPost, "/v1/chat", "application/json", []byte(body)); err != nil || r.Status != 400 {
			t.Fatalf("bad request: %v %v", r, err)
		}
	}
	if _, _, err := c.Chat(ctx, client.ChatRequest{Model: "not-configured", Messages: msgs("x")}); err == nil {
		t.Fatal("unknown model accepted")
	}

	m := scrape(t, c)
	exact := map[string]float64{
		`http_requests_total{code="200",method="POST",route="/v1/chat"}`:                           3,
		`http_requests_total{code="400",method="POST",route="/v1/chat"}`:                           2,
		`http_requests_total{code="404",method="POST",route="/v1/chat"}`:                           1,
		`http_requests_total{code="200",method="POST",route="/v1/chat/stream"}`:                    2,
		`http_requests_total{code="200",method="POST",route="/v1/images"}`:                         1,
		`http_requests_total{code="200",method="POST",route="/v1/agents/:id/runs"}`:                1,
		`cost_provider_api_calls_total{model="gpt-4o-mini",outcome="success",provider="sim"}`:      3 + 2 + 2, // chats, streams, two agent steps
		`cost_provider_api_calls_total{model="gpt-image-1",outcome="success",provider="sim"}`:      1,
		`cost_request_cost_usd_count{model="gpt-4o-mini",provider="sim",route="/v1/chat"}`:         3,
		`cost_request_cost_usd_count{model="gpt-4o-mini",provider="sim",route="/v1/chat/stream"}`:  2,
		`cost_request_cost_usd_sum{model="gpt-image-1",provider="sim",route="/v1/images"}`:         0.011,
		`slo_events_total{result="good",route="/v1/chat",route_group="chat",slo="availability"}`:   3,
		`slo_events_total{result="bad",route="/v1/chat",route_group="chat",slo="availability"}`:    0,
		`slo_events_total{result="good",route="/v1/chat/stream",route_group="chat",slo="latency"}`: 2,
		`slo_objective_ratio{route_group="chat",slo="availability"}`:                               0.999,
		`cost_unpriced_requests_total{model="gpt-4o-mini",provider="sim"}`:                         0,
		`http_requests_in_flight{route="/v1/chat"}`:                                                0,
	}
	for series, want := range exact {
		if got := m[series]; math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if got := m[`cost_request_cost_usd_sum{model="gpt-4o-mini",provider="sim",route="/v1/chat"}`]; math.Abs(got-chatCost) > 1e-12 {
		t.Errorf("chat cost sum = %v, want %v (sum of usage.cost_usd)", got, chatCost)
	}
	tokensIn := m[`cost_provider_tokens_total{model="gpt-4o-mini",provider="sim",type="input"}`]
	tokensOut := m[`cost_provider_tokens_total{model="gpt-4o-mini",provider="sim",type="output"}`]
	agentIn, agentOut := run.Usage.PromptTokens, run.Usage.CompletionTokens
	if int(tokensIn) != in+streamIn+agentIn || int(tokensOut) != out+streamOut+agentOut {
		t.Errorf("tokens in/out = %v/%v, want %d/%d", tokensIn, tokensOut, in+streamIn+agentIn, out+streamOut+agentOut)
	}
	for series := range m {
		if strings.Contains(series, `model="not-configured"`) || strings.Contains(series, `route="/v1/agents/calculator`) {
			t.Errorf("unbounded label value in %s", series)
		}
	}
}
