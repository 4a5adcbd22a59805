package e2e

import (
	"context"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"aiservice/harness/client"
	"aiservice/harness/launch"
	"aiservice/harness/otlp"
)

func attr(s *tracepb.Span, key string) (string, bool) {
	for _, a := range s.Attributes {
		if a.Key == key {
			v := a.Value
			switch {
			case v.GetStringValue() != "":
				return v.GetStringValue(), true
			case v.GetArrayValue() != nil:
				var parts []string
				for _, e := range v.GetArrayValue().Values {
					parts = append(parts, e.GetStringValue())
				}
				return strings.Join(parts, ","), true
			default:
				return strings.TrimSpace(strings.TrimPrefix(v.String(), "int_value:")), true
			}
		}
	}
	return "", false
}

func TestTracePropagationAndGenAISpans(t *testing.T) {
	recv := &otlp.Receiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	sim := launch.MustStartSim(t, launch.Options{})
	simc := launch.SimControl{URL: sim.URL}
	svc, err := launch.StartService(context.Background(), launch.Options{
		Config: launch.UpstreamConfig(sim.URL, `resilience: {backoff_base: 1ms, backoff_max: 2ms}`),
		Args:   []string{"--otlp-endpoint", collector.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Kill()

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const parentID = "00f067aa0ba902b7"
	c := client.New(svc.URL)
	c.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	ctx := context.Background()

	// One failed attempt then a success: two CLIENT spans under one SERVER span.
	if err := simc.SetBehaviour(ctx, launch.SimBehaviour{FailNext: 1, ErrorStatus: 503}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Chat(ctx, client.ChatRequest{Messages: []client.Message{client.Text("user", "secret prompt text")}}); err != nil {
		t.Fatal(err)
	}
	st, err := simc.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(st.LastTraceparent, "-")
	if len(parts) != 4 || parts[1] != traceID || parts[2] == parentID {
		t.Fatalf("upstream traceparent %q: want trace %s with the gateway's own span as parent", st.LastTraceparent, traceID)
	}
	upstreamParent := parts[2]

	if _, _, err := c.RunAgent(ctx, "calculator", "What is 2 + 2?"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Images(ctx, client.ImageRequest{Prompt: "a boat", Size: "256x256"}); err != nil {
		t.Fatal(err)
	}
	if code := svc.Stop(10 * time.Second); code != 0 { // the exit flushes the batch exporter
		t.Fatalf("exit code %d", code)
	}

	spans := recv.Spans()
	byName := map[string][]*tracepb.Span{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	servers := byName["POST /v1/chat"]
	if len(servers) != 1 {
		t.Fatalf("SERVER spans for /v1/chat = %d; all spans: %v", len(servers), names(spans))
	}
	server := servers[0]
	if hex.EncodeToString(server.TraceId) != traceID || hex.EncodeToString(server.ParentSpanId) != parentID || server.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("server span trace=%x parent=%x kind=%v", server.TraceId, server.ParentSpanId, server.Kind)
	}
	attempts := byName["chat gpt-4o-mini"]
	var chatAttempts []*tracepb.Span
	for _, a := range attempts {
		if string(a.ParentSpanId) == string(server.SpanId) {
			chatAttempts = append(chatAttempts, a)
		}
	}
	if len(chatAttempts) != 2 {
		t.Fatalf("CLIENT attempt spans under the request = %d, want 2 (one retry)", len(chatAttempts))
	}
	var failed, ok *tracepb.Span
	for _, a := range chatAttempts {
		if a.Kind != tracepb.Span_SPAN_KIND_CLIENT {
			t.Errorf("attempt kind %v", a.Kind)
		}
		if _, isErr := attr(a, "error.type"); isErr {
			failed = a
		} else {
			ok = a
		}
	}
	if failed == nil || ok == nil {
		t.Fatal("want one failed attempt with error.type and one successful attempt")
	}
	if v, _ := attr(failed, "error.type"); v != "503" {
		t.Errorf("error.type = %q", v)
	}
	if hex.EncodeToString(ok.SpanId) != upstreamParent {
		t.Errorf("the simulator's parent span %s is not the successful attempt %x", upstreamParent, ok.SpanId)
	}
	for key, want := range map[string]string{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
		"gen_ai.response.model": "gpt-4o-mini", "gen_ai.response.finish_reasons": "stop",
	} {
		if got, _ := attr(ok, key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	for _, key := range []string{"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"} {
		if v, found := attr(ok, key); !found || v == "0" {
			t.Errorf("%s = %q", key, v)
		}
	}
	if len(byName["invoke_agent calculator"]) != 1 || len(byName["execute_tool calculator"]) != 1 {
		t.Errorf("agent spans: %v", names(spans))
	}
	img := byName["generate_content gpt-image-1"]
	if len(img) != 1 {
		t.Fatalf("image spans: %v", names(spans))
	}
	if v, _ := attr(img[0], "gen_ai.output.type"); v != "image" {
		t.Errorf("gen_ai.output.type = %q", v)
	}
	for _, s := range spans {
		for _, a := range s.Attributes {
			if strings.Contains(a.Value.String(), "secret prompt text") {
				t.Errorf("span %s records prompt text in %s", s.Name, a.Key)
			}
		}
	}
	// Every request log line carries the trace and span ids.
	for _, l := range svc.LogLines() {
		if l["msg"] == "request" && l["route"] == "/v1/chat" && l["trace_id"] != traceID {
			t.Errorf("request log line without the trace id: %v", l)
		}
	}
}

func names(spans []*tracepb.Span) []string {
	out := make([]string, 0, len(spans))
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// TestRecordContentWhenEnabled: with AISERVICE_RECORD_CONTENT=true the prompt and the
// completion are on the attempt span (off by default, as the test above checks).
func TestRecordContentWhenEnabled(t *testing.T) {
	recv := &otlp.Receiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	svc, err := launch.StartService(context.Background(), launch.Options{
		Args: []string{"--otlp-endpoint", collector.URL},
		Env:  []string{"AISERVICE_RECORD_CONTENT=true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Kill()
	c := client.New(svc.URL)
	if _, _, err := c.Chat(context.Background(), client.ChatRequest{Messages: []client.Message{client.Text("user", "tell me a secret")}}); err != nil {
		t.Fatal(err)
	}
	if code := svc.Stop(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for _, s := range recv.Spans() {
		if s.Name != "chat gpt-4o-mini" {
			continue
		}
		in, _ := attr(s, "gen_ai.input.messages")
		out, _ := attr(s, "gen_ai.output.messages")
		if !strings.Contains(in, "tell me a secret") || !strings.Contains(out, `"role":"assistant"`) {
			t.Fatalf("input %q, output %q", in, out)
		}
		return
	}
	t.Fatalf("no chat span among %v", names(recv.Spans()))
}
