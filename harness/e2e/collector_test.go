package e2e

import (
	"context"
	"encoding/hex"
	"net/http/httptest"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"aiservice/harness/client"
	"aiservice/harness/launch"
	"aiservice/harness/otelcol"
	"aiservice/harness/otlp"
)

// TestExportThroughARealCollector sends the service's traces through a real OpenTelemetry
// Collector (OTLP receiver → batch → OTLP/HTTP exporter) to the test receiver: the collector
// accepts the service's export, and the spans it forwards keep the trace, the span kinds, the
// GenAI attributes and the resource.
func TestExportThroughARealCollector(t *testing.T) {
	recv := &otlp.Receiver{}
	sink := httptest.NewServer(recv)
	defer sink.Close()
	col := otelcol.Start(t, sink.URL)

	sim := launch.MustStartSim(t, launch.Options{})
	svc := launch.MustStartService(t, launch.Options{
		Config: launch.UpstreamConfig(sim.URL, ""),
		Args:   []string{"--otlp-endpoint", col.Endpoint},
	})

	const traceID = "5bf92f3577b34da6a3ce929d0e0e4737"
	c := client.New(svc.URL)
	c.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	ctx := context.Background()
	if _, _, err := c.Chat(ctx, client.ChatRequest{Messages: []client.Message{client.Text("user", "Hello")}}); err != nil {
		t.Fatal(err)
	}

	var server, attempt *tracepb.Span
	deadline := time.Now().Add(20 * time.Second)
	for (server == nil || attempt == nil) && time.Now().Before(deadline) {
		for _, s := range recv.Spans() {
			if hex.EncodeToString(s.TraceId) != traceID {
				continue
			}
			switch s.Kind {
			case tracepb.Span_SPAN_KIND_SERVER:
				server = s
			case tracepb.Span_SPAN_KIND_CLIENT:
				attempt = s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if server == nil || attempt == nil {
		t.Fatalf("through the collector: server span %v, client span %v; %d spans received in all", server != nil, attempt != nil, len(recv.Spans()))
	}
	if string(attempt.ParentSpanId) != string(server.SpanId) {
		t.Errorf("the attempt's parent is %x, want the server span %x", attempt.ParentSpanId, server.SpanId)
	}
	for key, want := range map[string]string{
		"gen_ai.operation.name": "chat",
		"gen_ai.request.model":  "gpt-4o-mini",
	} {
		if got, ok := attr(attempt, key); !ok || got != want {
			t.Errorf("client span %s = %q (present %v), want %q", key, got, ok, want)
		}
	}
	if _, ok := attr(attempt, "gen_ai.usage.output_tokens"); !ok {
		t.Error("client span lost gen_ai.usage.output_tokens in the collector")
	}
	var serviceName string
	for _, rs := range recv.Resources() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				serviceName = a.Value.GetStringValue()
			}
		}
	}
	if serviceName != "aiservice" {
		t.Errorf("resource service.name = %q after the collector, want aiservice", serviceName)
	}
}
