package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"aiservice/service/internal/config"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/provider"
	"aiservice/service/internal/wire"
)

// answer is what the fake upstream does for one call.
type answer struct {
	body  string        // a chat completion (ChatRaw)
	err   error         // returned instead of an answer
	hang  bool          // wait for the attempt's context to end
	chunk []string      // a stream's events (ChatStream); then [DONE] unless stall
	stall bool          // the stream goes silent after its chunks
	until chan struct{} // with hang or stall: also stop waiting when closed
}

const okBody = `{"id":"c1","object":"chat.completion","model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}}`

// fakeProvider answers from a script, one answer per call; the last one repeats.
type fakeProvider struct {
	name string

	mu     sync.Mutex
	script []answer
	seen   []string // the upstream model of each call, in order
}

func (p *fakeProvider) Name() string   { return p.name }
func (p *fakeProvider) System() string { return "fake" }

// URL carries credentials and a query, which must not reach a span.
func (p *fakeProvider) URL(op string) string {
	return "https://user:secret@" + p.name + ".example.com/v1/" + op + "?key=secret"
}

func (p *fakeProvider) next(model string) answer {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, model)
	a := p.script[0]
	if len(p.script) > 1 {
		p.script = p.script[1:]
	}
	return a
}

func (p *fakeProvider) calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// wait blocks like a silent upstream: until ctx ends (reported as the provider does) or until.
func wait(ctx context.Context, until chan struct{}) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("upstream read: %w", context.Cause(ctx))
	case <-until:
		return &provider.ConnError{Err: io.ErrUnexpectedEOF}
	}
}

// ChatRaw reads its answer as the real providers do (provider.ReadCompletion), so a scripted
// body that is not a chat completion fails as an upstream's would.
func (p *fakeProvider) ChatRaw(ctx context.Context, req *wire.ChatRequest) (provider.Completion, error) {
	b, err := p.body(ctx, req.Model)
	if err != nil {
		return provider.Completion{}, err
	}
	return provider.ReadCompletion(b)
}

// body is the scripted answer of a non-streaming call, as bytes.
func (p *fakeProvider) body(ctx context.Context, model string) ([]byte, error) {
	a := p.next(model)
	switch {
	case a.hang:
		return nil, wait(ctx, a.until)
	case a.err != nil:
		return nil, a.err
	}
	return []byte(a.body), nil
}

func (p *fakeProvider) ChatStream(ctx context.Context, req *wire.ChatRequest) (provider.Stream, error) {
	a := p.next(req.Model)
	switch {
	case a.hang:
		return nil, wait(ctx, a.until)
	case a.err != nil:
		return nil, a.err
	}
	return &fakeStream{ctx: ctx, a: a}, nil
}

func (p *fakeProvider) Images(ctx context.Context, req *wire.ImageRequest) (*wire.ImageResponse, error) {
	a := p.next(req.Model)
	if a.err != nil {
		return nil, a.err
	}
	return &wire.ImageResponse{Data: []wire.ImageData{{URL: "http://x/1.png"}}}, nil
}

type fakeStream struct {
	ctx    context.Context
	a      answer
	n      int
	closed bool
}

func (s *fakeStream) NextRaw() ([]byte, error) {
	if s.n < len(s.a.chunk) {
		s.n++
		return []byte(s.a.chunk[s.n-1]), nil
	}
	if s.a.stall {
		return nil, wait(s.ctx, s.a.until)
	}
	return nil, io.EOF
}

func (s *fakeStream) Next() (*wire.Chunk, error) { return nil, fmt.Errorf("not used") }
func (s *fakeStream) Ready() bool                { return false }
func (s *fakeStream) Close() error               { s.closed = true; return nil }
func (s *fakeStream) LastRead() time.Time        { return time.Time{} }

// harness is a gateway over fake providers, with sleeps recorded instead of waited.
type harness struct {
	g      *Gateway
	reg    *prometheus.Registry
	ups    map[string]*fakeProvider
	mu     sync.Mutex
	delays []time.Duration
}

// newHarness builds a gateway: models a, b and c on providers pa, pb and pc, a falling back to
// b then c; tune adjusts the resilience settings.
func newHarness(t testing.TB, tune func(*config.Config)) *harness {
	t.Helper()
	cfg := &config.Config{
		Models: []config.Model{
			{Name: "a", Provider: "pa", UpstreamModel: "up-a", Kind: "chat", Fallbacks: []string{"b", "c"}},
			{Name: "b", Provider: "pb", Kind: "chat"},
			{Name: "c", Provider: "pc", Kind: "chat"},
			{Name: "img", Provider: "pa", Kind: "image"},
		},
		Resilience: config.Resilience{MaxRetries: 2, BackoffBase: config.Duration(100 * time.Millisecond),
			BackoffMax: config.Duration(2 * time.Second), RetryBudgetRatio: 0.2, RetryBudgetMin: 10,
			BreakerFailures: 5, BreakerCooldown: config.Duration(10 * time.Second), MaxInFlight: 8, MaxStreams: 8},
		Timeouts: config.Timeouts{StreamFirstToken: config.Duration(30 * time.Second), StreamIdle: config.Duration(30 * time.Second)},
	}
	if tune != nil {
		tune(cfg)
	}
	h := &harness{reg: prometheus.NewRegistry(), ups: map[string]*fakeProvider{}}
	providers := map[string]provider.Provider{}
	for _, n := range []string{"pa", "pb", "pc"} {
		h.ups[n] = &fakeProvider{name: n, script: []answer{{body: okBody}}}
		providers[n] = h.ups[n]
	}
	log := slog.New(slog.DiscardHandler)
	prices := cost.NewTable(map[string]config.Price{"a": {InputPer1M: 1, OutputPer1M: 2}, "b": {InputPer1M: 10, OutputPer1M: 20}})
	g, err := New(Deps{Options: OptionsFrom(cfg), Providers: providers, Prices: prices,
		Cost: cost.NewTracker(h.reg, []string{"a", "b", "c", "img"}, log), Registry: h.reg, Tracer: noop.NewTracerProvider().Tracer(""), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	g.jitter = func() float64 { return 1 } // backoff = the full exponential step
	g.sleep = func(ctx context.Context, d time.Duration) bool {
		h.mu.Lock()
		h.delays = append(h.delays, d)
		h.mu.Unlock()
		return ctx.Err() == nil
	}
	h.g = g
	return h
}

// traced swaps the gateway's tracer for one that records every span.
func (h *harness) traced() *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	h.g.tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")
	return rec
}

// on scripts a provider's answers.
func (h *harness) on(p string, script ...answer) { h.ups[p].script = script }

func (h *harness) slept() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.delays...)
}

// counter reads a counter or gauge child.
func counter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

func status(code int) answer {
	return answer{err: &provider.StatusError{StatusCode: code, Detail: wire.ErrorDetail{Message: fmt.Sprintf("status %d", code)}}}
}

func chat(model string) *wire.ChatRequest {
	return &wire.ChatRequest{Model: model, Messages: []wire.Message{{Role: "user", Content: wire.TextContent("hello")}}}
}
