package telemetry

import (
	"compress/gzip"
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP endpoint that keeps every request it receives.
type collector struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   [][]byte
	status   []int // answers to give, in turn (then 200)
	srv      *httptest.Server
}

func newCollector(t *testing.T, status ...int) *collector {
	c := &collector{status: status}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("gzip: %v", err)
				return
			}
			rd = zr
		}
		b, _ := io.ReadAll(rd)
		c.mu.Lock()
		c.requests, c.bodies = append(c.requests, r), append(c.bodies, b)
		code := http.StatusOK
		if len(c.status) > 0 {
			code, c.status = c.status[0], c.status[1:]
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(code)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) decoded(t *testing.T, i int) *coltracepb.ExportTraceServiceRequest {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(c.bodies[i], &req); err != nil {
		t.Fatalf("request %d is not an OTLP protobuf: %v", i, err)
	}
	return &req
}

// testSpans covers every field and attribute type the encoder writes.
func testSpans() []sdktrace.ReadOnlySpan {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	ts, _ := trace.ParseTraceState("vendor=abc,other=1")
	ctx := func(sid byte, remote bool) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{sid, 2, 3, 4, 5, 6, 7, 8},
			TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: remote})
	}
	res := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "aiservice"), attribute.String("deployment.environment", "test"))
	scope := instrumentation.Scope{Name: "aiservice", Version: "1.2.3", SchemaURL: "https://example.com/s",
		Attributes: attribute.NewSet(attribute.Bool("x", true))}
	t0 := time.Date(2026, 11, 27, 4, 0, 0, 123456789, time.UTC)
	long := strings.Repeat("long value ", 40) // lengths past one varint byte
	stubs := tracetest.SpanStubs{
		{
			Name: "POST /v1/chat", SpanContext: ctx(1, false), Parent: ctx(9, true), SpanKind: trace.SpanKindServer,
			StartTime: t0, EndTime: t0.Add(1500 * time.Microsecond), Resource: res, InstrumentationScope: scope,
			Attributes: []attribute.KeyValue{
				attribute.String("http.route", "/v1/chat"), attribute.Int("http.response.status_code", 200),
				attribute.Bool("ok", false), attribute.Float64("ratio", 0.25), attribute.Int64("neg", -42),
				attribute.ByteSlice("bytes", []byte{0, 1, 2}), attribute.BoolSlice("bools", []bool{true, false}),
				attribute.Int64Slice("ints", []int64{1, -2, 300}), attribute.Float64Slice("floats", []float64{1.5, math.Copysign(0, -1)}),
				attribute.StringSlice("gen_ai.response.finish_reasons", []string{"stop", "", long}),
				attribute.Slice("mixed", attribute.StringValue("a"), attribute.IntValue(2)),
				attribute.Map("map", attribute.String("k", "v"), attribute.Int("n", 1)),
				attribute.String("long", long), attribute.String("empty", ""),
			},
			Events: []sdktrace.Event{{Name: "retry", Time: t0.Add(time.Millisecond), Attributes: []attribute.KeyValue{attribute.Int("attempt", 2)}, DroppedAttributeCount: 1}},
			Links:  []sdktrace.Link{{SpanContext: ctx(7, true), Attributes: []attribute.KeyValue{attribute.String("l", "v")}, DroppedAttributeCount: 2}},
			Status: sdktrace.Status{Code: codes.Error, Description: "upstream failed"}, DroppedAttributes: 3, DroppedEvents: 4, DroppedLinks: 5,
		},
		{
			Name: "chat gpt-4o-mini", SpanContext: ctx(2, false), Parent: ctx(1, false), SpanKind: trace.SpanKindClient,
			StartTime: t0, EndTime: t0.Add(time.Millisecond), Resource: res, InstrumentationScope: scope,
			Attributes: []attribute.KeyValue{attribute.String("gen_ai.operation.name", "chat")},
			Status:     sdktrace.Status{Code: codes.Ok},
		},
		{ // another scope, the zero one, with a root span and nothing set
			Name: "root", SpanContext: ctx(3, false), Resource: res,
		},
		{
			Name: "internal", SpanContext: ctx(4, false), Parent: ctx(3, false), SpanKind: trace.SpanKindInternal,
			StartTime: t0, EndTime: t0, Resource: res, InstrumentationScope: scope,
		},
	}
	return stubs.Snapshots()
}

// The fast exporter's requests decode to exactly what the official otlptracehttp exporter sends
// for the same spans.
func TestOTLPEncodingMatchesTheOfficialExporter(t *testing.T) {
	spans := testSpans()
	official := newCollector(t)
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(official.srv.URL+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.ExportSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	ours := newCollector(t)
	fast := newOTLPHTTP(ours.srv.URL+"/v1/traces", otlpOptions{timeout: 5 * time.Second})
	if err := fast.ExportSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	want, got := official.decoded(t, 0), ours.decoded(t, 0)
	if !proto.Equal(got, want) {
		t.Fatalf("the fast exporter's request differs from the official one:\n got %v\nwant %v", got, want)
	}
	if n := len(got.ResourceSpans[0].ScopeSpans); n != 2 {
		t.Fatalf("%d scope groups, want 2", n)
	}
	if ct := ours.requests[0].Header.Get("Content-Type"); ct != "application/x-protobuf" {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestOTLPConfigFromEnvironment(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		env     map[string]string
		fast    bool
		gzip    bool
		timeout time.Duration
		headers string // canonical k=v;... of the extra headers
		wantErr bool
	}{
		{"defaults", nil, true, false, 10 * time.Second, "", false},
		{"headers, gzip, timeout", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=s%20e, X-Team = ai",
			"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, true, true, 2500 * time.Millisecond, "Api-Key=s e;X-Team=ai", false},
		{"traces variables win", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=2",
			"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none"}, true, false, 10 * time.Second, "B=2", false},
		{"a client certificate needs the official exporter", map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/c.pem"}, false, false, 0, "", false},
		{"a CA file needs the official exporter", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": "/ca.pem"}, false, false, 0, "", false},
		{"JSON needs the official exporter", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, false, false, 0, "", false},
		{"bad timeout", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, false, false, 0, "", true},
		{"bad headers", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, false, false, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, fast, err := fastOTLPConfig(env(tt.env))
			if (err != nil) != tt.wantErr || fast != tt.fast || o.gzip != tt.gzip || o.timeout != tt.timeout {
				t.Fatalf("fast %v gzip %v timeout %v err %v", fast, o.gzip, o.timeout, err)
			}
			var pairs []string
			for k, vs := range o.headers {
				pairs = append(pairs, k+"="+strings.Join(vs, ","))
			}
			if got := strings.Join(sortStrings(pairs), ";"); got != tt.headers {
				t.Errorf("headers %q, want %q", got, tt.headers)
			}
		})
	}
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// Headers and gzip reach the collector; a 503 with Retry-After and a 429 are retried, a 400 is
// not; an export after Shutdown fails.
func TestOTLPExporterHTTP(t *testing.T) {
	spans := testSpans()
	t.Run("headers and gzip", func(t *testing.T) {
		c := newCollector(t)
		e := newOTLPHTTP(c.srv.URL, otlpOptions{headers: http.Header{"Api-Key": {"secret"}}, gzip: true, timeout: 5 * time.Second})
		if err := e.ExportSpans(context.Background(), spans); err != nil {
			t.Fatal(err)
		}
		r := c.requests[0]
		if r.Header.Get("Api-Key") != "secret" || r.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("headers %v", r.Header)
		}
		if got := c.decoded(t, 0); len(got.ResourceSpans) != 1 {
			t.Errorf("decoded %v", got)
		}
	})
	t.Run("retryable answers are retried", func(t *testing.T) {
		c := newCollector(t, http.StatusServiceUnavailable, http.StatusTooManyRequests)
		e := newOTLPHTTP(c.srv.URL, otlpOptions{timeout: 5 * time.Second})
		e.backoff = 10 * time.Millisecond
		if err := e.ExportSpans(context.Background(), spans); err != nil {
			t.Fatal(err)
		}
		if len(c.bodies) != 3 {
			t.Fatalf("%d requests, want 3", len(c.bodies))
		}
		c.decoded(t, 2)
	})
	t.Run("a bad request is not retried", func(t *testing.T) {
		c := newCollector(t, http.StatusBadRequest)
		e := newOTLPHTTP(c.srv.URL, otlpOptions{timeout: 5 * time.Second})
		if err := e.ExportSpans(context.Background(), spans); err == nil || !strings.Contains(err.Error(), "400") {
			t.Fatalf("error %v, want the 400", err)
		}
		if len(c.bodies) != 1 {
			t.Fatalf("%d requests, want 1", len(c.bodies))
		}
	})
	t.Run("retries stop at the timeout", func(t *testing.T) {
		c := newCollector(t, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503)
		e := newOTLPHTTP(c.srv.URL, otlpOptions{timeout: 300 * time.Millisecond})
		e.backoff = 50 * time.Millisecond
		start := time.Now()
		if err := e.ExportSpans(context.Background(), spans); err == nil {
			t.Fatal("no error after the timeout")
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("gave up after %s, want about the 300ms timeout", took)
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		c := newCollector(t)
		e := newOTLPHTTP(c.srv.URL, otlpOptions{timeout: time.Second})
		if err := e.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := e.ExportSpans(context.Background(), spans); err == nil {
			t.Fatal("export after shutdown succeeded")
		}
	})
}

// BenchmarkOTLPExport puts the official exporter and the fast one side by side on the same
// batch of gateway-like spans, each posting to a local collector.
func BenchmarkOTLPExport(b *testing.B) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	res := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0", attribute.String("service.name", "aiservice"))
	var stubs tracetest.SpanStubs
	for i := range 512 {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{byte(i), byte(i >> 8), 1}, TraceFlags: trace.FlagsSampled})
		stubs = append(stubs, tracetest.SpanStub{Name: "chat gpt-4o-mini", SpanContext: sc, SpanKind: trace.SpanKindClient,
			StartTime: time.Now(), EndTime: time.Now(), Resource: res, InstrumentationScope: instrumentation.Scope{Name: "aiservice"},
			Attributes: []attribute.KeyValue{attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.provider.name", "sim"),
				attribute.String("gen_ai.request.model", "gpt-4o-mini"), attribute.Int("aiservice.attempt", 1),
				attribute.String("gen_ai.response.model", "gpt-4o-mini"), attribute.Int("gen_ai.usage.input_tokens", 9),
				attribute.Int("gen_ai.usage.output_tokens", 44), attribute.StringSlice("gen_ai.response.finish_reasons", []string{"stop"})}})
	}
	spans := stubs.Snapshots()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	official, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		exp  sdktrace.SpanExporter
	}{{"official", official}, {"fast", newOTLPHTTP(srv.URL+"/v1/traces", otlpOptions{timeout: 5 * time.Second})}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.exp.ExportSpans(context.Background(), spans); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
		})
	}
}
