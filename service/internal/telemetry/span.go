package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// SpanStart is how a kind of span starts (name, kind, attributes), built once per route.
//
// Its attributes are set only on a span that records. Passed as a start option they would be
// copied into a start config for every span, the unsampled ones included (nine in ten at
// production sampling, all of them with sampling off), then again into the recording span; set
// afterwards they are copied once, by the span that keeps them. The service's samplers
// (trace-id ratio, parent-based) do not look at start attributes.
type SpanStart struct {
	Name  string
	Attrs []attribute.KeyValue
	opts  []trace.SpanStartOption
}

// NewSpanStart builds a SpanStart; attrs are kept, not copied.
func NewSpanStart(name string, kind trace.SpanKind, attrs []attribute.KeyValue) SpanStart {
	return SpanStart{Name: name, Attrs: attrs, opts: []trace.SpanStartOption{trace.WithSpanKind(kind)}}
}

// Start starts the span under ctx with tr.
func (s SpanStart) Start(ctx context.Context, tr trace.Tracer) (context.Context, trace.Span) {
	ctx, span := tr.Start(ctx, s.Name, s.opts...)
	if span.IsRecording() {
		span.SetAttributes(s.Attrs...)
	}
	return ctx, span
}
