// Package telemetry sets up OpenTelemetry tracing (W3C propagation, parent-based ratio
// sampling, OTLP/HTTP export when configured) and the JSON logger that stamps every line written
// during a request with its trace and span ids.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Tracing is the configured tracer provider and propagator.
type Tracing struct {
	Provider   *sdktrace.TracerProvider
	Propagator propagation.TextMapPropagator
	Exporting  bool
}

// Tracer returns the service's tracer.
func (t *Tracing) Tracer() trace.Tracer { return t.Provider.Tracer("aiservice") }

// Shutdown flushes buffered spans and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if err := t.Provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("flush traces: %w", err)
	}
	return nil
}

// Options configure tracing.
type Options struct {
	ServiceName  string
	Version      string
	Env          string   // development: sample everything; production: 10 %
	SampleRatio  *float64 // overrides the environment default
	OTLPEndpoint string   // e.g. http://jaeger:4318; empty: the OTEL_EXPORTER_OTLP_* variables, else no export
	Getenv       func(string) string
	// TrustIncomingSampling lets a caller's sampled flag decide (see Sampler).
	TrustIncomingSampling bool
	// PropagateBaggage reads and forwards W3C baggage; off, only traceparent/tracestate are.
	PropagateBaggage bool
}

// Setup builds tracing. Without an endpoint nothing is exported, but spans still exist so trace
// ids propagate upstream and appear in logs.
func Setup(ctx context.Context, o Options) (*Tracing, error) {
	sampler, err := Sampler(o.Env, o.SampleRatio, o.TrustIncomingSampling, o.Getenv)
	if err != nil {
		return nil, err
	}
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(o.ServiceName), semconv.ServiceVersion(o.Version),
		semconv.DeploymentEnvironment(o.Env))
	opts := []sdktrace.TracerProviderOption{sdktrace.WithSampler(sampler), sdktrace.WithResource(res)}
	t := &Tracing{Propagator: Propagator(o.PropagateBaggage)}
	// OTLP_ENDPOINT (the config) wins; else the standard variables, read through the injected
	// getenv so tests and `aiservice config` see what the process would do.
	endpoint, name := o.OTLPEndpoint, "telemetry.otlp_endpoint"
	if endpoint == "" {
		if v := o.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
			endpoint, name = v, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
		} else if v := o.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); v != "" {
			endpoint, name = strings.TrimRight(v, "/")+"/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT"
		}
	}
	var exp sdktrace.SpanExporter
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("%s: %q is not an http(s) URL", name, endpoint)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces"
		}
		eopts, err := exporterOptions(o.Getenv)
		if err != nil {
			return nil, err
		}
		if exp, err = otlptracehttp.New(ctx, append(eopts, otlptracehttp.WithEndpointURL(u.String()))...); err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
	}
	if exp != nil {
		opts = append(opts, sdktrace.WithBatcher(exp))
		t.Exporting = true
	}
	t.Provider = sdktrace.NewTracerProvider(opts...)
	return t, nil
}

// Propagator is W3C trace context, plus W3C baggage only when asked: the same propagator reads
// the caller's headers and writes the upstream's, and a client's baggage must not reach a
// third-party upstream by default.
func Propagator(baggage bool) propagation.TextMapPropagator {
	if baggage {
		return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	return propagation.TraceContext{}
}

// Sampler is parent-based trace-id ratio: 1.0 in development, 0.1 in production, unless the
// config's ratio or OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG say otherwise. Unless trust is
// set, a caller's traceparent gives the trace its id (for correlation) but its sampled flag
// does not force sampling: a remote parent that asks for it is sampled at the same ratio, drawn
// at random — not from the trace id, which the caller chose and could pick to always fall under
// the ratio. A caller's "not sampled" is respected: it can only lower what is exported.
func Sampler(env string, ratio *float64, trust bool, getenv func(string) string) (sdktrace.Sampler, error) {
	r := 1.0
	if env == "production" {
		r = 0.1
	}
	if ratio != nil {
		r = *ratio
	}
	name := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER"))
	// Without OTEL_TRACES_SAMPLER the default sampler is parent-based ratio, so the ARG applies.
	if arg := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG")); arg != "" && (name == "" || strings.HasSuffix(name, "traceidratio")) {
		v, err := strconv.ParseFloat(arg, 64)
		if err != nil || v < 0 || v > 1 {
			return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: %q is not a ratio between 0 and 1", arg)
		}
		r = v
	}
	switch name {
	case "", "parentbased_traceidratio":
		if !trust {
			return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r), sdktrace.WithRemoteParentSampled(randomRatio(r))), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(r), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	}
	return nil, errors.New("OTEL_TRACES_SAMPLER: unsupported sampler " + strconv.Quote(name))
}

// randomRatio samples a fraction of spans at random, keeping the parent's trace state.
type randomRatio float64

func (r randomRatio) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	d := sdktrace.Drop
	if rand.Float64() < float64(r) {
		d = sdktrace.RecordAndSample
	}
	return sdktrace.SamplingResult{Decision: d, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
}

func (r randomRatio) Description() string {
	return "RandomRatio{" + strconv.FormatFloat(float64(r), 'g', -1, 64) + "}"
}

// traceHandler adds trace_id and span_id to records logged with a span in their context.
type traceHandler struct{ slog.Handler }

// NewLogHandler wraps a handler so request logs carry trace and span ids.
func NewLogHandler(h slog.Handler) slog.Handler { return traceHandler{h} }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(a)}
}
func (h traceHandler) WithGroup(n string) slog.Handler { return traceHandler{h.Handler.WithGroup(n)} }
