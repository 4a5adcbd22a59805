package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func ptr(f float64) *float64 { return &f }

func TestSampler(t *testing.T) {
	parentRatio := func(r string) string {
		return "ParentBased{root:TraceIDRatioBased{" + r + "},remoteParentSampled:RandomRatio{" + r + "},remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"
	}
	for _, tc := range []struct {
		name    string
		env     string
		ratio   *float64
		trust   bool
		vars    map[string]string
		want    string // the sampler's Description
		wantErr string
	}{
		{name: "development samples everything", env: "development", want: parentRatio("1")},
		{name: "trusted callers decide for their traces", env: "production", trust: true,
			want: "ParentBased{root:TraceIDRatioBased{0.1},remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"},
		{name: "production samples 10%", env: "production", want: parentRatio("0.1")},
		{name: "the config ratio overrides the environment", env: "production", ratio: ptr(0.5), want: parentRatio("0.5")},
		{name: "a zero ratio is honoured", env: "development", ratio: ptr(0), want: parentRatio("0")},
		{name: "parentbased_traceidratio with an arg", env: "production",
			vars: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}, want: parentRatio("0.25")},
		{name: "the env arg beats the config ratio", env: "development", ratio: ptr(0.5),
			vars: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.75"}, want: parentRatio("0.75")},
		{name: "the arg alone sets the default sampler's ratio", env: "production",
			vars: map[string]string{"OTEL_TRACES_SAMPLER_ARG": "0.5"}, want: parentRatio("0.5")},
		{name: "traceidratio ignores the parent", env: "development",
			vars: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.3"}, want: "TraceIDRatioBased{0.3}"},
		{name: "traceidratio without an arg keeps the default ratio", env: "production",
			vars: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio"}, want: "TraceIDRatioBased{0.1}"},
		{name: "always_on", env: "production", vars: map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}, want: "AlwaysOnSampler"},
		{name: "always_off", env: "development", vars: map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}, want: "AlwaysOffSampler"},
		{name: "blanks around the name are trimmed", env: "development", vars: map[string]string{"OTEL_TRACES_SAMPLER": " always_on "}, want: "AlwaysOnSampler"},
		{name: "parentbased_always_on", env: "development", vars: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_always_on"},
			want: "ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"},
		{name: "parentbased_always_off", env: "development", vars: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_always_off"},
			want: "ParentBased{root:AlwaysOffSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"},
		{name: "an arg for a sampler without a ratio is ignored", env: "development",
			vars: map[string]string{"OTEL_TRACES_SAMPLER": "always_on", "OTEL_TRACES_SAMPLER_ARG": "oops"}, want: "AlwaysOnSampler"},
		{name: "an unknown sampler is an error", env: "development", vars: map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"},
			wantErr: `unsupported sampler "jaeger_remote"`},
		{name: "a non-numeric arg is an error", env: "development",
			vars:    map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"},
			wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "an arg above 1 is an error", env: "development",
			vars:    map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"},
			wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "a negative arg is an error", env: "development",
			vars:    map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "-0.1"},
			wantErr: "OTEL_TRACES_SAMPLER_ARG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Sampler(tc.env, tc.ratio, tc.trust, env(tc.vars))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Description(); got != tc.want {
				t.Fatalf("sampler %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewLogHandler(slog.NewJSONHandler(&buf, nil)))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()
	sc := span.SpanContext()

	for _, tc := range []struct {
		name      string
		log       func()
		wantTrace bool
	}{
		{"with a span", func() { log.InfoContext(ctx, "hello") }, true},
		{"without a span", func() { log.InfoContext(context.Background(), "hello") }, false},
		{"through WithAttrs", func() { log.With("k", "v").InfoContext(ctx, "hello") }, true},
		{"through WithGroup", func() { log.WithGroup("g").InfoContext(ctx, "hello", "k", "v") }, true},
		{"an invalid span context adds nothing", func() {
			log.InfoContext(trace.ContextWithSpanContext(context.Background(), trace.SpanContext{}), "hello")
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			tc.log()
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("log line %q: %v", buf.String(), err)
			}
			// Inside a group the ids are nested under it; look in both places.
			if g, ok := rec["g"].(map[string]any); ok {
				rec = g
			}
			tid, sid := rec["trace_id"], rec["span_id"]
			if !tc.wantTrace {
				if tid != nil || sid != nil {
					t.Fatalf("ids added without a span: %s", buf.String())
				}
				return
			}
			if tid != sc.TraceID().String() || sid != sc.SpanID().String() {
				t.Fatalf("trace_id=%v span_id=%v, want %s %s in %s", tid, sid, sc.TraceID(), sc.SpanID(), buf.String())
			}
		})
	}
}

func TestSetup(t *testing.T) {
	t.Run("no endpoint exports nothing but still makes spans", func(t *testing.T) {
		tr, err := Setup(context.Background(), Options{ServiceName: "aiservice", Env: "development", Getenv: env(nil)})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tr.Shutdown(context.Background()) }()
		if tr.Exporting {
			t.Error("Exporting without an endpoint")
		}
		_, span := tr.Tracer().Start(context.Background(), "op")
		if !span.SpanContext().IsValid() || !span.SpanContext().IsSampled() {
			t.Error("development spans must be valid and sampled so ids reach logs and upstreams")
		}
		span.End()
	})
	for _, bad := range []string{"jaeger:4318", "ftp://host", "http://", "::"} {
		t.Run("bad endpoint "+bad, func(t *testing.T) {
			_, err := Setup(context.Background(), Options{OTLPEndpoint: bad, Getenv: env(nil)})
			if err == nil || !strings.Contains(err.Error(), "telemetry.otlp_endpoint") {
				t.Fatalf("error %v, want one naming telemetry.otlp_endpoint", err)
			}
		})
	}
	t.Run("bad sampler", func(t *testing.T) {
		_, err := Setup(context.Background(), Options{Getenv: env(map[string]string{"OTEL_TRACES_SAMPLER": "nope"})})
		if err == nil {
			t.Fatal("no error for an unknown sampler")
		}
	})
	t.Run("spans are exported to the endpoint's /v1/traces", func(t *testing.T) {
		var mu sync.Mutex
		var paths []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			mu.Lock()
			paths = append(paths, r.URL.Path)
			mu.Unlock()
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusOK)
		}))
		defer srv.Close()
		tr, err := Setup(context.Background(), Options{ServiceName: "aiservice", Env: "development", OTLPEndpoint: srv.URL, Getenv: env(nil)})
		if err != nil {
			t.Fatal(err)
		}
		if !tr.Exporting {
			t.Fatal("not exporting with an endpoint")
		}
		_, span := tr.Tracer().Start(context.Background(), "op")
		span.End()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tr.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(paths) == 0 || paths[0] != "/v1/traces" {
			t.Fatalf("exporter posted to %v, want /v1/traces", paths)
		}
	})
}

// TestIncomingSampledFlag: a caller's sampled flag does not force sampling unless trusted (its
// "not sampled" is respected); its trace id is kept either way.
func TestIncomingSampledFlag(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("00000000000000000000000000000001") // under any trace-id ratio
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	for _, tc := range []struct {
		name    string
		ratio   float64
		trust   bool
		flags   trace.TraceFlags
		sampled bool
	}{
		{"untrusted sampled flag, ratio 0", 0, false, trace.FlagsSampled, false},
		{"untrusted sampled flag, ratio 1", 1, false, trace.FlagsSampled, true},
		{"untrusted not sampled is respected", 1, false, 0, false},
		{"trusted sampled flag, ratio 0", 0, true, trace.FlagsSampled, true},
		{"trusted not sampled", 1, true, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Sampler("production", ptr(tc.ratio), tc.trust, env(nil))
			if err != nil {
				t.Fatal(err)
			}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(s))
			defer func() { _ = tp.Shutdown(context.Background()) }()
			parent := trace.ContextWithRemoteSpanContext(context.Background(),
				trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: tc.flags, Remote: true}))
			for range 100 {
				_, span := tp.Tracer("t").Start(parent, "server")
				sc := span.SpanContext()
				span.End()
				if sc.TraceID() != tid {
					t.Fatalf("trace id %s, want the caller's %s", sc.TraceID(), tid)
				}
				if sc.IsSampled() != tc.sampled {
					t.Fatalf("sampled = %v, want %v", sc.IsSampled(), tc.sampled)
				}
			}
		})
	}
}

func TestPropagatorBaggage(t *testing.T) {
	for _, tc := range []struct {
		baggage bool
		fields  string
	}{{false, "traceparent,tracestate"}, {true, "baggage,traceparent,tracestate"}} {
		if got := strings.Join(slices.Sorted(slices.Values(Propagator(tc.baggage).Fields())), ","); got != tc.fields {
			t.Errorf("Propagator(%v) fields %q, want %q", tc.baggage, got, tc.fields)
		}
	}
}
