package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestSpanStart(t *testing.T) {
	attrs := []attribute.KeyValue{attribute.String("http.route", "/v1/chat/completions"), attribute.Int("aiservice.attempt", 1)}
	tests := []struct {
		name    string
		sampler sdktrace.Sampler
		want    int // spans ended and kept
	}{
		{"a sampled span gets its kind and attributes", sdktrace.AlwaysSample(), 1},
		{"an unsampled span records nothing", sdktrace.NeverSample(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(tt.sampler), sdktrace.WithSpanProcessor(rec))
			ctx, span := NewSpanStart("POST /v1/chat/completions", trace.SpanKindServer, attrs).Start(context.Background(), tp.Tracer("t"))
			if !trace.SpanContextFromContext(ctx).Equal(span.SpanContext()) {
				t.Error("the context does not carry the span")
			}
			span.End()
			ended := rec.Ended()
			if len(ended) != tt.want {
				t.Fatalf("%d spans kept, want %d", len(ended), tt.want)
			}
			if tt.want == 0 {
				return
			}
			got := ended[0]
			if got.Name() != "POST /v1/chat/completions" || got.SpanKind() != trace.SpanKindServer {
				t.Errorf("span %q of kind %v", got.Name(), got.SpanKind())
			}
			if len(got.Attributes()) != len(attrs) {
				t.Fatalf("attributes %v, want %v", got.Attributes(), attrs)
			}
			for i, a := range got.Attributes() {
				if a != attrs[i] {
					t.Errorf("attribute %d = %v, want %v", i, a, attrs[i])
				}
			}
		})
	}
}
