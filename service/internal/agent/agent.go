// Package agent runs configured agents: a tool-calling loop against a chat model, in OpenAI's
// tools / tool_calls wire format, executing the built-in tools (calculator, clock).
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/config"
	"aiservice/service/internal/gateway"
	"aiservice/service/internal/wire"
)

// Chatter is the part of the gateway an agent needs.
type Chatter interface {
	Chat(ctx context.Context, req *wire.ChatRequest) (*wire.ChatResponse, *gateway.Call, error)
}

// Runner runs agents.
type Runner struct {
	agents map[string]config.Agent
	order  []config.Agent
	chat   Chatter
	tracer trace.Tracer
	now    func() time.Time
}

// NewRunner builds a runner over the configured agents.
func NewRunner(agents []config.Agent, chat Chatter, tracer trace.Tracer, now func() time.Time) *Runner {
	r := &Runner{agents: map[string]config.Agent{}, order: agents, chat: chat, tracer: tracer, now: now}
	for _, a := range agents {
		r.agents[a.ID] = a
	}
	return r
}

// Info describes an agent for the API.
type Info struct {
	ID          string   `json:"id"`
	Object      string   `json:"object"`
	Description string   `json:"description"`
	Model       string   `json:"model"`
	Tools       []string `json:"tools"`
	MaxSteps    int      `json:"max_steps"`
}

func info(a config.Agent) Info {
	tools := append([]string{}, a.Tools...) // [] rather than null for an agent without tools
	return Info{ID: a.ID, Object: "agent", Description: a.Description, Model: a.Model, Tools: tools, MaxSteps: a.MaxSteps}
}

// List returns the agents in configuration order.
func (r *Runner) List() []Info {
	out := make([]Info, 0, len(r.order))
	for _, a := range r.order {
		out = append(out, info(a))
	}
	return out
}

// Get returns one agent.
func (r *Runner) Get(id string) (Info, error) {
	a, ok := r.agents[id]
	if !ok {
		return Info{}, notFound(id)
	}
	return info(a), nil
}

func notFound(id string) error {
	return &apperr.Error{Kind: apperr.NotFound, Code: "agent_not_found", Message: fmt.Sprintf("No agent with id %q.", apperr.Excerpt(id))}
}

// Run is the result of an agent run.
type Run struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	AgentID string     `json:"agent_id"`
	Model   string     `json:"model"`
	Status  string     `json:"status"` // completed, or max_steps_exceeded
	Output  string     `json:"output"`
	Steps   []Step     `json:"steps"`
	Usage   wire.Usage `json:"usage"`
	Created int64      `json:"created"`
	// Call is the run's model calls folded into one: what the API layer records for the request.
	Call gateway.Call `json:"-"`
}

// Step is one tool call the agent made.
type Step struct {
	Index     int    `json:"index"`
	Tool      string `json:"tool"`
	Arguments string `json:"arguments"`
	Result    string `json:"result"`
	Error     string `json:"error,omitempty"`
}

// Run executes an agent on an input: it asks the model, executes the tools it calls and feeds
// the results back, until the model answers in text or max_steps model calls were made. A run
// that failed after it began is returned with its error: its Call says what it consumed.
func (r *Runner) Run(ctx context.Context, id, input string) (*Run, error) {
	a, ok := r.agents[id]
	if !ok {
		return nil, notFound(id)
	}
	ctx, span := r.tracer.Start(ctx, "invoke_agent "+a.ID, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "invoke_agent"),
			attribute.String("gen_ai.agent.id", a.ID),
			attribute.String("gen_ai.agent.name", a.ID),
			attribute.String("gen_ai.request.model", a.Model),
		))
	defer span.End()

	tools := make([]wire.Tool, 0, len(a.Tools))
	for _, t := range a.Tools {
		tools = append(tools, builtins[t].spec)
	}
	msgs := []wire.Message{{Role: "user", Content: wire.TextContent(input)}}
	if a.SystemPrompt != "" {
		msgs = append([]wire.Message{{Role: "system", Content: wire.TextContent(a.SystemPrompt)}}, msgs...)
	}
	run := &Run{ID: fmt.Sprintf("run_%x", r.now().UnixNano()), Object: "agent.run", AgentID: a.ID, Model: a.Model,
		Status: "max_steps_exceeded", Steps: []Step{}, Created: r.now().Unix()}
	for step := 0; step < a.MaxSteps; step++ {
		resp, call, err := r.chat.Chat(ctx, &wire.ChatRequest{Model: a.Model, Messages: msgs, Tools: tools})
		run.Call.Add(call)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
			span.SetAttributes(attribute.String("error.type", apperr.From(err).Kind.String()))
			return run, err
		}
		run.Model = call.Model
		if u := resp.Usage; u != nil {
			run.Usage.PromptTokens += u.PromptTokens
			run.Usage.CompletionTokens += u.CompletionTokens
			run.Usage.TotalTokens += u.TotalTokens
		}
		if len(resp.Choices) == 0 {
			return run, apperr.New(apperr.Upstream, "the model returned no choices")
		}
		msg := resp.Choices[0].Message
		if len(msg.ToolCalls) == 0 {
			run.Output = msg.Content.Text
			run.Status = "completed"
			break
		}
		if limit := maxToolCalls(a); len(msg.ToolCalls) > limit {
			err := &apperr.Error{Kind: apperr.Upstream, Code: "too_many_tool_calls",
				Message: fmt.Sprintf("The model asked for %d tool calls in one step; agent %q executes at most %d (agents[].max_tool_calls).", len(msg.ToolCalls), a.ID, limit)}
			span.SetStatus(codes.Error, err.Message)
			span.SetAttributes(attribute.String("error.type", "too_many_tool_calls"))
			return run, err // with its calls: what the model calls cost is still recorded
		}
		msgs = append(msgs, wire.Message{Role: "assistant", Content: wire.Content{Null: true}, ToolCalls: msg.ToolCalls})
		for _, tc := range msg.ToolCalls {
			st := r.execute(ctx, a, tc, len(run.Steps))
			run.Steps = append(run.Steps, st)
			content := st.Result
			if st.Error != "" {
				content = "error: " + st.Error
			}
			msgs = append(msgs, wire.Message{Role: "tool", ToolCallID: tc.ID, Content: wire.TextContent(content)})
		}
	}
	if run.Call.Priced {
		total := run.Call.CostUSD
		run.Usage.CostUSD = &total
	}
	span.SetAttributes(attribute.Int("gen_ai.usage.input_tokens", run.Usage.PromptTokens),
		attribute.Int("gen_ai.usage.output_tokens", run.Usage.CompletionTokens))
	return run, nil
}

// DefaultMaxToolCalls is the cap on tool calls executed in one step when the agent sets none.
const DefaultMaxToolCalls = 16

// maxToolCalls is the agent's cap on the tool calls one model answer may make: a hostile or
// broken upstream must not make the gateway run thousands of tools for one request.
func maxToolCalls(a config.Agent) int {
	if a.MaxToolCalls > 0 {
		return a.MaxToolCalls
	}
	return DefaultMaxToolCalls
}

// execute runs one tool call in its own execute_tool span. Tool failures are reported to the
// model (and in the step), not to the client: the model may recover from them.
func (r *Runner) execute(ctx context.Context, a config.Agent, tc wire.ToolCall, index int) Step {
	_, span := r.tracer.Start(ctx, "execute_tool "+tc.Function.Name, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "execute_tool"),
			attribute.String("gen_ai.tool.name", tc.Function.Name),
			attribute.String("gen_ai.tool.call.id", tc.ID),
		))
	defer span.End()
	st := Step{Index: index, Tool: tc.Function.Name, Arguments: tc.Function.Arguments}
	tool, ok := builtins[tc.Function.Name]
	allowed := false
	for _, t := range a.Tools {
		allowed = allowed || t == tc.Function.Name
	}
	if !ok || !allowed {
		st.Error = fmt.Sprintf("tool %q is not available to this agent", tc.Function.Name)
	} else if out, err := tool.run(json.RawMessage(tc.Function.Arguments), r.now); err != nil {
		st.Error = err.Error()
	} else {
		st.Result = out
	}
	if st.Error != "" {
		span.SetStatus(codes.Error, st.Error)
		span.SetAttributes(attribute.String("error.type", "tool_error"))
	}
	return st
}

type builtin struct {
	spec wire.Tool
	run  func(args json.RawMessage, now func() time.Time) (string, error)
}

var builtins = map[string]builtin{
	"calculator": {
		spec: wire.Tool{Type: "function", Function: wire.FunctionSpec{
			Name:        "calculator",
			Description: "Evaluates an arithmetic expression with + - * / % ^ and parentheses.",
			Parameters:  json.RawMessage(`{"type":"object","properties":{"expression":{"type":"string","description":"e.g. (2 + 3) * 4"}},"required":["expression"]}`),
		}},
		run: func(args json.RawMessage, _ func() time.Time) (string, error) {
			var in struct {
				Expression string `json:"expression"`
			}
			if err := json.Unmarshal(args, &in); err != nil || in.Expression == "" {
				return "", fmt.Errorf("arguments must be {\"expression\": \"...\"}")
			}
			v, err := Calculate(in.Expression)
			if err != nil {
				return "", err
			}
			return FormatNumber(v), nil
		},
	},
	"clock": {
		spec: wire.Tool{Type: "function", Function: wire.FunctionSpec{
			Name:        "clock",
			Description: "Returns the current date and time, in UTC or an IANA time zone.",
			Parameters:  json.RawMessage(`{"type":"object","properties":{"timezone":{"type":"string","description":"IANA zone such as Europe/Paris; default UTC"}}}`),
		}},
		run: func(args json.RawMessage, now func() time.Time) (string, error) {
			var in struct {
				Timezone string `json:"timezone"`
			}
			if len(args) > 0 {
				if err := json.Unmarshal(args, &in); err != nil {
					return "", fmt.Errorf("arguments must be {\"timezone\": \"...\"} or {}")
				}
			}
			loc := time.UTC
			if in.Timezone != "" {
				l, err := time.LoadLocation(in.Timezone)
				if err != nil {
					return "", fmt.Errorf("unknown time zone %q", in.Timezone)
				}
				loc = l
			}
			return now().In(loc).Format(time.RFC3339), nil
		},
	},
}
