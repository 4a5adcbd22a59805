package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"aiservice/service/internal/sse"
	"aiservice/service/internal/tokens"
	"aiservice/service/internal/wire"
)

// The simulator's Anthropic dialect: POST /v1/messages (with stream) and
// /v1/messages/count_tokens, answered by the same simulated model as chat completions — the
// request is read into the model's terms, and its reply written back as Anthropic's blocks,
// stop reasons, usage and stream events.

type anthropicRequest struct {
	Model         string             `json:"model"`
	MaxTokens     *int               `json:"max_tokens"`
	System        json.RawMessage    `json:"system,omitempty"`
	Messages      []anthropicMessage `json:"messages"`
	Tools         []anthropicTool    `json:"tools,omitempty"`
	ToolChoice    *anthropicChoice   `json:"tool_choice,omitempty"`
	StopSequences []string           `json:"stop_sequences,omitempty"`
	Stream        bool               `json:"stream,omitempty"`
}

type anthropicMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anthropicBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"` // tool_result: a string or text blocks
}

type anthropicTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anthropicChoice struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
}

type anthropicUsage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

type anthropicResponse struct {
	ID           string           `json:"id"`
	Type         string           `json:"type"`
	Role         string           `json:"role"`
	Model        string           `json:"model"`
	Content      []map[string]any `json:"content"`
	StopReason   *string          `json:"stop_reason"`
	StopSequence *string          `json:"stop_sequence"`
	Usage        anthropicUsage   `json:"usage"`
}

// writeAnthropicError is an errorWriter: Anthropic's error type follows from the status, so the
// OpenAI type it is given is not used.
func writeAnthropicError(w http.ResponseWriter, status int, _, msg string, retryAfter Duration) {
	if retryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int((time.Duration(retryAfter)+time.Second-1)/time.Second)))
	}
	writeJSON(w, status, anthropicError(status, msg))
}

// anthropicError is Anthropic's error envelope for a status, the same in a JSON answer and in a
// stream's `error` event.
func anthropicError(status int, msg string) map[string]any {
	var typ string
	switch {
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case status == 529 || status == http.StatusServiceUnavailable:
		typ = "overloaded_error"
	case status == http.StatusGatewayTimeout:
		typ = "timeout_error"
	case status >= 500:
		typ = "api_error"
	case status == http.StatusUnauthorized:
		typ = "authentication_error"
	case status == http.StatusNotFound:
		typ = "not_found_error"
	default:
		typ = "invalid_request_error"
	}
	return map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg}}
}

// cutMessages ends a Messages stream mid-way as Anthropic's API does when it fails after the
// headers: an `error` event, overloaded_error (its usual one) unless error_status names another
// status. With drop_connection the connection is closed instead, a raw cut.
func cutMessages(w http.ResponseWriter, b Behaviour) {
	if b.DropConnection {
		dropConnection(w)
		return
	}
	status := b.ErrorStatus
	if status == 0 {
		status = 529
	}
	data, _ := json.Marshal(anthropicError(status, fmt.Sprintf("simulated upstream failure mid-stream (%d)", status)))
	_ = sse.WriteEvent(w, "error", data)
}

// chatRequest reads an Anthropic request into the simulated model's terms; it is also the
// validation Anthropic's API does for what the simulator reads.
func (a *anthropicRequest) chatRequest() (*wire.ChatRequest, error) {
	switch {
	case a.Model == "":
		return nil, badRequestf("model: Field required")
	case a.MaxTokens == nil:
		return nil, badRequestf("max_tokens: Field required")
	case *a.MaxTokens < 0:
		return nil, badRequestf("max_tokens: must be at least 0")
	case len(a.Messages) == 0:
		return nil, badRequestf("messages: at least one message is required")
	}
	req := &wire.ChatRequest{Model: a.Model, MaxTokens: a.MaxTokens}
	if len(a.System) > 0 {
		text, _, err := blocksText(a.System, "system")
		if err != nil {
			return nil, err
		}
		req.Messages = append(req.Messages, wire.Message{Role: "system", Content: wire.TextContent(text)})
	}
	for i, m := range a.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, badRequestf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		text, result, err := blocksText(m.Content, fmt.Sprintf("messages.%d.content", i))
		if err != nil {
			return nil, err
		}
		role := m.Role
		if result {
			role = "tool"
		}
		req.Messages = append(req.Messages, wire.Message{Role: role, Content: wire.TextContent(text)})
	}
	for i, t := range a.Tools {
		if t.Name == "" || len(t.InputSchema) == 0 {
			return nil, badRequestf("tools.%d: name and input_schema are required", i)
		}
		req.Tools = append(req.Tools, wire.Tool{Type: "function", Function: wire.FunctionSpec{Name: t.Name, Description: t.Description, Parameters: t.InputSchema}})
	}
	if c := a.ToolChoice; c != nil {
		var raw string
		switch c.Type {
		case "auto":
			raw = `"auto"`
		case "any":
			raw = `"required"`
		case "none":
			raw = `"none"`
		case "tool":
			name, _ := json.Marshal(c.Name)
			raw = `{"type":"function","function":{"name":` + string(name) + `}}`
		default:
			return nil, badRequestf("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
		}
		req.ToolChoice = json.RawMessage(raw)
	}
	return req, nil
}

// blocksText is the text of a content field (a string or blocks); result reports that it
// carries a tool_result, which the model answers by stating it.
func blocksText(raw json.RawMessage, field string) (string, bool, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, false, nil
	}
	var blocks []anthropicBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", false, badRequestf("%s: Input should be a valid string or list of content blocks", field)
	}
	var parts []string
	result := false
	for i, b := range blocks {
		switch b.Type {
		case "text":
			parts = append(parts, b.Text)
		case "tool_result":
			result = true
			text, _, err := blocksText(b.Content, fmt.Sprintf("%s.%d.content", field, i))
			if err != nil && len(b.Content) > 0 {
				return "", false, err
			}
			parts = append(parts, text)
		case "tool_use", "image", "document", "thinking", "redacted_thinking":
		default:
			return "", false, badRequestf("%s.%d.type: unknown content block type %q", field, i, b.Type)
		}
	}
	return strings.Join(parts, "\n"), result, nil
}

// stopReason maps the model's finish reason to Anthropic's.
func stopReason(finish string) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls":
		return "tool_use"
	}
	return "end_turn"
}

// cutAtStop ends text at the first stop sequence, as Anthropic does, naming it.
func cutAtStop(text string, stops []string) (string, *string) {
	cut, which := len(text), ""
	for _, s := range stops {
		if i := strings.Index(text, s); s != "" && i >= 0 && i < cut {
			cut, which = i, s
		}
	}
	if which == "" {
		return text, nil
	}
	return text[:cut], &which
}

// readAnthropic is how both Messages routes begin: the key, the body, and the request read into
// the model's terms (count_tokens takes no max_tokens); false when it answered an error.
func (s *Server) readAnthropic(w http.ResponseWriter, r *http.Request, counting bool) (*anthropicRequest, *wire.ChatRequest, bool) {
	if !s.keyOK(r) {
		writeAnthropicError(w, http.StatusUnauthorized, "", "invalid x-api-key", 0)
		return nil, nil, false
	}
	var a anthropicRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&a); err != nil {
		writeAnthropicError(w, http.StatusBadRequest, "", "invalid JSON body: "+err.Error(), 0)
		return nil, nil, false
	}
	if counting {
		one := 1
		a.MaxTokens = &one
	}
	req, err := a.chatRequest()
	if err != nil {
		writeAnthropicError(w, http.StatusBadRequest, "", err.Error(), 0)
		return nil, nil, false
	}
	return &a, req, true
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	a, req, ok := s.readAnthropic(w, r, false)
	if !ok {
		return
	}
	if a.Stream {
		s.streams.Add(1)
	} else {
		s.chats.Add(1)
	}
	c, b, ok := s.beginIn(w, r, a.Model, writeAnthropicError)
	defer c.end()
	if !ok {
		return
	}
	rep, err := answer(req, b, 0)
	if err != nil {
		writeAnthropicError(w, http.StatusBadRequest, "", err.Error(), 0)
		return
	}
	msg := anthropicMessageOf(req, rep, a.StopSequences)
	if a.Stream {
		c.completed = s.streamMessage(w, r, msg, b)
		return
	}
	writeJSON(w, http.StatusOK, msg)
	c.completed = true
}

func anthropicMessageOf(req *wire.ChatRequest, rep reply, stops []string) anthropicResponse {
	msg := anthropicResponse{ID: fmt.Sprintf("msg_sim%016x", seed(req.Model, rep.text)), Type: "message", Role: "assistant", Model: req.Model,
		Usage: anthropicUsage{InputTokens: promptTokens(req), OutputTokens: completionTokens([]reply{rep})}}
	reason := stopReason(rep.finishReason)
	if rep.toolCall != nil {
		msg.Content = []map[string]any{{"type": "tool_use", "id": "toolu_" + strings.TrimPrefix(rep.toolCall.ID, "call_"),
			"name": rep.toolCall.Function.Name, "input": json.RawMessage(rep.toolCall.Function.Arguments)}}
	} else {
		text, stop := cutAtStop(rep.text, stops)
		if stop != nil {
			reason = "stop_sequence"
			msg.StopSequence = stop
			msg.Usage.OutputTokens = tokens.Count(text)
		}
		msg.Content = []map[string]any{{"type": "text", "text": text}}
	}
	msg.StopReason = &reason
	return msg
}

// streamMessage sends Anthropic's event sequence: message_start, a ping, per block
// content_block_start / content_block_delta… / content_block_stop, message_delta with the stop
// reason and output usage, message_stop.
func (s *Server) streamMessage(w http.ResponseWriter, r *http.Request, msg anthropicResponse, b Behaviour) bool {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	send := func(event string, v any) bool {
		data, _ := json.Marshal(v)
		return sse.WriteEvent(w, event, data) == nil
	}
	start := msg
	start.Content, start.StopReason, start.StopSequence = []map[string]any{}, nil, nil
	start.Usage.OutputTokens = 1
	if !send("message_start", map[string]any{"type": "message_start", "message": start}) || !wait(r, b.TimeToFirstToken) ||
		!send("ping", map[string]string{"type": "ping"}) {
		return false
	}
	block := msg.Content[0]
	var first map[string]any
	var pieces []map[string]any
	if block["type"] == "tool_use" {
		first = map[string]any{"type": "tool_use", "id": block["id"], "name": block["name"], "input": map[string]any{}}
		for _, p := range splitBytes(string(block["input"].(json.RawMessage)), b.Chunks) {
			pieces = append(pieces, map[string]any{"type": "input_json_delta", "partial_json": p})
		}
	} else {
		first = map[string]any{"type": "text", "text": ""}
		for _, p := range split(block["text"].(string), b.Chunks) {
			pieces = append(pieces, map[string]any{"type": "text_delta", "text": p})
		}
	}
	if !send("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": first}) {
		return false
	}
	for i, d := range pieces {
		if i > 0 && !wait(r, b.InterTokenDelay) {
			return false
		}
		if b.CutStreamAfter > 0 && i >= b.CutStreamAfter {
			cutMessages(w, b)
			return false
		}
		if !send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": d}) {
			return false
		}
	}
	return send("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0}) &&
		send("message_delta", map[string]any{"type": "message_delta",
			"delta": map[string]any{"stop_reason": msg.StopReason, "stop_sequence": msg.StopSequence},
			"usage": map[string]int{"output_tokens": msg.Usage.OutputTokens}}) &&
		send("message_stop", map[string]string{"type": "message_stop"})
}

// countTokens answers count_tokens; injected latency and failures apply to it as to messages.
func (s *Server) countTokens(w http.ResponseWriter, r *http.Request) {
	a, req, ok := s.readAnthropic(w, r, true)
	if !ok {
		return
	}
	c, _, ok := s.beginIn(w, r, a.Model, writeAnthropicError)
	defer c.end()
	if !ok {
		return
	}
	c.completed = true
	n := promptTokens(req)
	for _, t := range a.Tools {
		n += tokens.Count(t.Name + t.Description + string(t.InputSchema))
	}
	writeJSON(w, http.StatusOK, map[string]int{"input_tokens": n})
}
