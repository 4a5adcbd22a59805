package agent

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/config"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/gateway"
	"aiservice/service/internal/wire"
)

// scripted answers each model call with the next scripted response and records the requests.
type scripted struct {
	replies []wire.Message
	err     error
	calls   []*wire.ChatRequest
}

func (s *scripted) Chat(_ context.Context, req *wire.ChatRequest) (*wire.ChatResponse, *gateway.Call, error) {
	// Keep a copy: the runner appends to the message list between calls.
	cp := *req
	cp.Messages = append([]wire.Message(nil), req.Messages...)
	s.calls = append(s.calls, &cp)
	if s.err != nil {
		return nil, &gateway.Call{}, s.err
	}
	msg := s.replies[min(len(s.calls)-1, len(s.replies)-1)]
	return &wire.ChatResponse{Choices: []wire.Choice{{Message: msg}},
			Usage: &wire.Usage{PromptTokens: 10, CompletionTokens: 2, TotalTokens: 12}},
		&gateway.Call{Served: true, Spend: cost.Spend{Model: req.Model, Usage: &wire.Usage{PromptTokens: 10, CompletionTokens: 2, TotalTokens: 12},
			CostUSD: 0.001, Priced: true}}, nil
}

func toolCall(id, name, args string) wire.Message {
	return wire.Message{Role: "assistant", Content: wire.Content{Null: true},
		ToolCalls: []wire.ToolCall{{ID: id, Type: "function", Function: wire.FunctionCall{Name: name, Arguments: args}}}}
}

func text(s string) wire.Message {
	return wire.Message{Role: "assistant", Content: wire.TextContent(s)}
}

var agents = []config.Agent{
	{ID: "calculator", Model: "gpt-4o-mini", Tools: []string{"calculator"}, MaxSteps: 3, SystemPrompt: "use tools"},
	{ID: "plain", Model: "gpt-4o", MaxSteps: 2},
}

func fixedNow() time.Time { return time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC) }

func TestListAndGet(t *testing.T) {
	r := NewRunner(agents, &scripted{}, noop.NewTracerProvider().Tracer(""), fixedNow)
	list := r.List()
	if len(list) != 2 || list[0].ID != "calculator" || list[1].ID != "plain" || list[0].Object != "agent" {
		t.Fatalf("List = %+v, want configuration order", list)
	}
	if a, err := r.Get("plain"); err != nil || a.Model != "gpt-4o" || a.MaxSteps != 2 {
		t.Fatalf("Get = %+v, %v", a, err)
	}
	_, err := r.Get("nope")
	if e := apperr.From(err); e == nil || e.Kind != apperr.NotFound || e.Code != "agent_not_found" {
		t.Fatalf("Get(nope) = %v, want a NotFound agent_not_found", err)
	}
}

func TestRunWithTool(t *testing.T) {
	chat := &scripted{replies: []wire.Message{
		toolCall("c1", "calculator", `{"expression":"(2 + 3) * 4"}`),
		text("The result is 20."),
	}}
	r := NewRunner(agents, chat, noop.NewTracerProvider().Tracer(""), fixedNow)
	run, err := r.Run(context.Background(), "calculator", "What is (2+3)*4?")
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != "completed" || run.Output != "The result is 20." || run.AgentID != "calculator" || run.Object != "agent.run" {
		t.Fatalf("run = %+v", run)
	}
	if len(run.Steps) != 1 || run.Steps[0].Tool != "calculator" || run.Steps[0].Result != "20" || run.Steps[0].Error != "" {
		t.Fatalf("steps = %+v", run.Steps)
	}
	if run.Usage.TotalTokens != 24 || run.Usage.CostUSD == nil || *run.Usage.CostUSD != 0.002 {
		t.Errorf("usage = %+v, want both calls summed and priced", run.Usage)
	}
	if c := run.Call; c.Usage == nil || c.Usage.TotalTokens != 24 || !c.Priced || math.Abs(c.CostUSD-0.002) > 1e-12 || c.Model != "gpt-4o-mini" {
		t.Errorf("run call = %+v, want the two model calls folded into one", c)
	}
	if run.Created != fixedNow().Unix() {
		t.Errorf("created = %d", run.Created)
	}
	// The second call carries the system prompt, the question, the tool call and its result.
	second := chat.calls[1]
	roles := []string{}
	for _, m := range second.Messages {
		roles = append(roles, m.Role)
	}
	if strings.Join(roles, ",") != "system,user,assistant,tool" {
		t.Fatalf("second call roles = %v", roles)
	}
	if tm := second.Messages[3]; tm.ToolCallID != "c1" || tm.Content.Text != "20" {
		t.Errorf("tool message = %+v", tm)
	}
	if len(second.Tools) != 1 || second.Tools[0].Function.Name != "calculator" || !json.Valid(second.Tools[0].Function.Parameters) {
		t.Errorf("tools offered = %+v", second.Tools)
	}
}

func TestRunToolErrorsGoToTheModel(t *testing.T) {
	for _, tc := range []struct {
		name, tool, args, wantErr string
	}{
		{"bad expression", "calculator", `{"expression":"1/0"}`, "division by zero"},
		{"bad arguments", "calculator", `not json`, "arguments must be"},
		{"empty expression", "calculator", `{}`, "arguments must be"},
		{"a tool the agent lacks", "clock", `{}`, `tool "clock" is not available`},
		{"an unknown tool", "shell", `{"cmd":"rm -rf /"}`, `tool "shell" is not available`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chat := &scripted{replies: []wire.Message{toolCall("c1", tc.tool, tc.args), text("sorry")}}
			r := NewRunner(agents, chat, noop.NewTracerProvider().Tracer(""), fixedNow)
			run, err := r.Run(context.Background(), "calculator", "x")
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != "completed" || len(run.Steps) != 1 || !strings.Contains(run.Steps[0].Error, tc.wantErr) {
				t.Fatalf("run = %+v", run)
			}
			if got := chat.calls[1].Messages[len(chat.calls[1].Messages)-1].Content.Text; !strings.HasPrefix(got, "error: ") {
				t.Errorf("tool message %q, want the error reported to the model", got)
			}
		})
	}
}

func TestRunMaxSteps(t *testing.T) {
	chat := &scripted{replies: []wire.Message{toolCall("c", "calculator", `{"expression":"1+1"}`)}}
	r := NewRunner(agents, chat, noop.NewTracerProvider().Tracer(""), fixedNow)
	run, err := r.Run(context.Background(), "calculator", "loop forever")
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != "max_steps_exceeded" || len(chat.calls) != 3 || len(run.Steps) != 3 || run.Output != "" {
		t.Fatalf("status %q after %d calls, %d steps", run.Status, len(chat.calls), len(run.Steps))
	}
}

func TestRunErrors(t *testing.T) {
	r := NewRunner(agents, &scripted{err: apperr.New(apperr.Timeout, "slow")}, noop.NewTracerProvider().Tracer(""), fixedNow)
	if _, err := r.Run(context.Background(), "plain", "x"); apperr.From(err).Kind != apperr.Timeout {
		t.Errorf("error %v, want the model's Timeout passed through", err)
	}
	if _, err := r.Run(context.Background(), "nope", "x"); apperr.From(err).Kind != apperr.NotFound {
		t.Errorf("error %v, want NotFound", err)
	}
	empty := &emptyChoices{}
	r = NewRunner(agents, empty, noop.NewTracerProvider().Tracer(""), fixedNow)
	if _, err := r.Run(context.Background(), "plain", "x"); apperr.From(err).Kind != apperr.Upstream {
		t.Errorf("error %v, want Upstream for a response without choices", err)
	}
}

type emptyChoices struct{}

func (emptyChoices) Chat(context.Context, *wire.ChatRequest) (*wire.ChatResponse, *gateway.Call, error) {
	return &wire.ChatResponse{}, &gateway.Call{}, nil
}

func TestClockTool(t *testing.T) {
	run := builtins["clock"].run
	_, tzErr := time.LoadLocation("Asia/Tokyo")
	haveTZ := tzErr == nil
	for _, tc := range []struct {
		args, want, wantErr string
	}{
		{``, "2025-03-04T05:06:07Z", ""},
		{`{}`, "2025-03-04T05:06:07Z", ""},
		{`{"timezone":"Asia/Tokyo"}`, "2025-03-04T14:06:07+09:00", ""},
		{`{"timezone":"Mars/Olympus"}`, "", "unknown time zone"},
		{`[1]`, "", "arguments must be"},
	} {
		got, err := run(json.RawMessage(tc.args), fixedNow)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("clock(%s) = %q, %v; want error %q", tc.args, got, err, tc.wantErr)
			}
			continue
		}
		if strings.Contains(tc.args, "Tokyo") && !haveTZ {
			continue // no time zone database on this machine
		}
		if err != nil || got != tc.want {
			t.Errorf("clock(%s) = %q, %v; want %q", tc.args, got, err, tc.want)
		}
	}
}

func TestToolCallsPerStepAreCapped(t *testing.T) {
	calls := func(n int) wire.Message {
		m := wire.Message{Role: "assistant", Content: wire.Content{Null: true}}
		for i := range n {
			m.ToolCalls = append(m.ToolCalls, wire.ToolCall{ID: "c", Type: "function", Function: wire.FunctionCall{Name: "calculator", Arguments: `{"expression":"1+` + strings.Repeat("1", i%3+1) + `"}`}})
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		limit int // the agent's max_tool_calls
		calls int
		ok    bool
	}{
		{"at the default cap", 0, DefaultMaxToolCalls, true},
		{"past the default cap", 0, 20000, false},
		{"at a configured cap", 2, 2, true},
		{"past a configured cap", 2, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := agents[0]
			a.MaxToolCalls = tc.limit
			chat := &scripted{replies: []wire.Message{calls(tc.calls), text("done")}}
			r := NewRunner([]config.Agent{a}, chat, noop.NewTracerProvider().Tracer(""), fixedNow)
			run, err := r.Run(context.Background(), a.ID, "go")
			if tc.ok {
				if err != nil || len(run.Steps) != tc.calls {
					t.Fatalf("run %+v, %v; want %d steps", run, err, tc.calls)
				}
				return
			}
			e := apperr.From(err)
			if e == nil || e.Kind != apperr.Upstream || e.Code != "too_many_tool_calls" || !strings.Contains(e.Message, "max_tool_calls") {
				t.Fatalf("error %v, want a 502 too_many_tool_calls", err)
			}
			if len(chat.calls) != 1 {
				t.Fatalf("%d model calls, want 1: nothing runs after the refusal", len(chat.calls))
			}
		})
	}
}
