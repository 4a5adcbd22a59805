package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"aiservice/service/internal/config"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/provider"
	"aiservice/service/internal/wire"
)

// anthropicMessage is an Anthropic answer that read and wrote the prompt cache.
const anthropicMessage = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-upstream","content":[{"type":"text","text":"Hi"}],` +
	`"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":100,"output_tokens":10,"cache_creation_input_tokens":200,"cache_read_input_tokens":1000}}`

const anthropicSSE = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-upstream\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":100,\"output_tokens\":1,\"cache_creation_input_tokens\":200,\"cache_read_input_tokens\":1000}}}\n\n" +
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n" +
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":10}}\n\n" +
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

// cacheCost is anthropicMessage's usage at claude's prices: input, cache reads, cache writes
// and output each at their own rate.
const cacheCost = (100*3 + 1000*0.3 + 200*3.75 + 10*15) / 1e6

// anthropicGateway is a gateway whose model "claude" is on an Anthropic upstream that answers
// overloaded (529) to the first `busy` requests, then with anthropicMessage or its events.
func anthropicGateway(t *testing.T, busy int32) (*Gateway, *tracetest.SpanRecorder, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= busy {
			w.WriteHeader(529)
			_, _ = io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
			return
		}
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), `"stream":true`) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, anthropicSSE)
			return
		}
		_, _ = io.WriteString(w, anthropicMessage)
	}))
	t.Cleanup(srv.Close)
	up := provider.NewAnthropic(provider.AnthropicConfig{Version: "2023-06-01", OpenAIConfig: provider.OpenAIConfig{Name: "anth", System: "anthropic",
		BaseURL: srv.URL, ConnectTimeout: time.Second, ResponseHeaderTimeout: 5 * time.Second, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute}})
	cfg := &config.Config{
		Models: []config.Model{{Name: "claude", Provider: "anth", UpstreamModel: "claude-upstream", Kind: "chat"}},
		Resilience: config.Resilience{MaxRetries: 2, BackoffBase: config.Duration(time.Millisecond), BackoffMax: config.Duration(time.Millisecond),
			RetryBudgetRatio: 1, RetryBudgetMin: 10, BreakerFailures: 5, BreakerCooldown: config.Duration(time.Second), MaxInFlight: 4, MaxStreams: 4},
		Timeouts: config.Timeouts{StreamFirstToken: config.Duration(5 * time.Second), StreamIdle: config.Duration(5 * time.Second)},
	}
	rec := tracetest.NewSpanRecorder()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	g, err := New(Deps{Options: OptionsFrom(cfg), Providers: map[string]provider.Provider{"anth": up},
		Prices: cost.NewTable(map[string]config.Price{"claude": {InputPer1M: 3, CachedInputPer1M: 0.3, CacheWriteInputPer1M: 3.75, OutputPer1M: 15}}),
		Cost:   cost.NewTracker(reg, []string{"claude"}, log), Registry: reg,
		Tracer: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test"), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return g, rec, &calls
}

func claudeRequest() *wire.MessagesRequest {
	n := 64
	return &wire.MessagesRequest{Model: "claude", MaxTokens: &n, Messages: []wire.AMessage{{Role: "user", Content: wire.AContent{{Type: "text", Text: "Hello"}}}},
		Raw: []byte(`{"model":"claude","max_tokens":64,"messages":[{"role":"user","content":"Hello"}]}`)}
}

// TestMessagesPassThroughPricedAndTraced: an Anthropic upstream's message comes back as sent
// but for the public model name and usage.cost_usd, priced with cache reads and writes at
// their rates, after a 529 was retried; each attempt is a span of provider anthropic.
func TestMessagesPassThroughPricedAndTraced(t *testing.T) {
	g, rec, calls := anthropicGateway(t, 1)
	b, call, err := g.Messages(context.Background(), claudeRequest())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"model":"claude"`) || !strings.Contains(string(b), `"cache_read_input_tokens":1000`) || !strings.Contains(string(b), `"cost_usd":`) {
		t.Errorf("body %s", b)
	}
	if call.Attempts != 2 || calls.Load() != 2 || !call.Priced || diff(call.CostUSD, cacheCost) || call.Usage.PromptTokens != 1300 {
		t.Errorf("call %+v usage %+v, want 2 attempts and $%v", call, call.Usage, cacheCost)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	for i, sp := range spans {
		attrs := map[string]string{}
		for _, kv := range sp.Attributes() {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		if attrs["gen_ai.provider.name"] != "anthropic" || attrs["gen_ai.request.model"] != "claude" {
			t.Errorf("span %d: %v", i, attrs)
		}
		if i == 1 && (attrs["gen_ai.usage.input_tokens"] != "1300" || attrs["gen_ai.response.model"] != "claude-upstream" || attrs["gen_ai.response.finish_reasons"] != `["stop"]`) {
			t.Errorf("span %d: %v", i, attrs)
		}
	}
}

// TestMessagesStreamPassThrough: the events pass through with the public model name in
// message_start and the cost in message_delta; the call is priced like the message.
func TestMessagesStreamPassThrough(t *testing.T) {
	g, _, _ := anthropicGateway(t, 0)
	st, call, err := g.MessagesStream(context.Background(), claudeRequest())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var all strings.Builder
	for {
		ev, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, ev.Name)
		all.Write(ev.Data)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, " "); got != "message_start content_block_start content_block_delta content_block_stop message_delta message_stop" {
		t.Errorf("events %s", got)
	}
	if s := all.String(); !strings.Contains(s, `"model":"claude"`) || strings.Contains(s, "claude-upstream") || !strings.Contains(s, `"cost_usd":`) {
		t.Errorf("events %s", s)
	}
	if !call.Priced || diff(call.CostUSD, cacheCost) || call.Usage.CompletionTokens != 10 {
		t.Errorf("call %+v usage %+v", call, call.Usage)
	}
}

func diff(a, b float64) bool { return a-b > 1e-12 || b-a > 1e-12 }
