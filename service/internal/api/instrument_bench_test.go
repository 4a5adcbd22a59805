package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/telemetry"
)

// The instrumentation benchmarks put the service's hand-written SERVER span and upstream
// propagation side by side with otelgin and otelhttp, at production sampling (10 %, batched to an
// exporter that drops the spans), so the difference is the libraries' cost per request alone:
// docs/performance.md compares it with a request's whole CPU on the realistic profile.

type dropExporter struct{}

func (dropExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (dropExporter) Shutdown(context.Context) error                             { return nil }

func productionTracing(b *testing.B) *sdktrace.TracerProvider {
	sampler, err := telemetry.Sampler("production", nil, false, func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithBatcher(dropExporter{}))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

var benchAnswer = bytes.Repeat([]byte("x"), 1500) // a realistic answer is 1-2 KB

func benchServer(b *testing.B, span ...gin.HandlerFunc) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(span...)
	r.POST("/v1/chat/completions", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", benchAnswer) })
	body := strings.Repeat("y", 1000)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "OpenAI/Go 3.98.0")
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// traceIDHeader is what observe adds to the span either way: the trace id for the client.
func traceIDHeader(c *gin.Context) {
	if sc := trace.SpanContextFromContext(c.Request.Context()); sc.HasTraceID() {
		c.Header("X-Trace-Id", sc.TraceID().String())
	}
}

// BenchmarkServerSpan/hand-written is observe's span code as it stands; /otelgin the library
// with the same tracer, propagator and span name.
func BenchmarkServerSpan(b *testing.B) {
	prop := telemetry.Propagator(false)
	b.Run("hand-written", func(b *testing.B) {
		tracer := productionTracing(b).Tracer("aiservice")
		start := serverSpan(http.MethodPost, "/v1/chat/completions")
		benchServer(b, func(c *gin.Context) {
			ctx := prop.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
			ctx, span := start.Start(ctx, tracer)
			c.Request = c.Request.WithContext(ctx)
			traceIDHeader(c)
			c.Next()
			span.SetAttributes(attribute.Int("http.response.status_code", c.Writer.Status()))
			if c.Writer.Status() >= 500 {
				span.SetStatus(codes.Error, http.StatusText(c.Writer.Status()))
			}
			span.End()
		})
	})
	b.Run("otelgin", func(b *testing.B) {
		mw := otelgin.Middleware("aiservice", otelgin.WithTracerProvider(productionTracing(b)), otelgin.WithPropagators(prop),
			otelgin.WithSpanNameFormatter(func(c *gin.Context) string { return c.Request.Method + " " + c.FullPath() }))
		benchServer(b, mw, traceIDHeader)
	})
}

// canned answers every request in memory, so the benchmark times the instrumentation, not a
// network.
type canned struct{}

func (canned) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(benchAnswer)), ContentLength: int64(len(benchAnswer)), Request: r}, nil
}

type injecting struct {
	prop propagation.TextMapPropagator
	next http.RoundTripper
}

func (t injecting) RoundTrip(r *http.Request) (*http.Response, error) {
	t.prop.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	return t.next.RoundTrip(r)
}

// BenchmarkClientTransport/hand-written is the provider's propagation (Inject, under the
// gateway's own CLIENT span); /otelhttp the library's transport, which adds an HTTP CLIENT span
// of its own under it and injects.
func BenchmarkClientTransport(b *testing.B) {
	prop := telemetry.Propagator(false)
	for _, tc := range []struct {
		name string
		rt   func(tp trace.TracerProvider) http.RoundTripper
	}{
		{"hand-written", func(trace.TracerProvider) http.RoundTripper { return injecting{prop, canned{}} }},
		{"otelhttp", func(tp trace.TracerProvider) http.RoundTripper {
			return otelhttp.NewTransport(canned{}, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop))
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tp := productionTracing(b)
			tracer := tp.Tracer("aiservice")
			client := &http.Client{Transport: tc.rt(tp)}
			payload := []byte(strings.Repeat("y", 1000))
			b.ReportAllocs()
			for b.Loop() {
				// The gateway's attempt span, in both: its cost is the same either way.
				ctx, span := tracer.Start(context.Background(), "chat gpt-4o-mini", trace.WithSpanKind(trace.SpanKindClient))
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:1/v1/chat/completions", bytes.NewReader(payload))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				span.End()
			}
		})
	}
}
