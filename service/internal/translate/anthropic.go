package translate

import (
	"encoding/json"
	"fmt"
	"strings"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/wire"
)

// Options say what to do with what the other dialect cannot express.
type Options struct {
	// DropUnsupported drops such a field silently instead of refusing the request with a 400
	// naming it (a provider's drop_unsupported).
	DropUnsupported bool
}

// DefaultMaxTokens is the max_tokens sent to Anthropic for an OpenAI request that names none:
// Anthropic requires it, OpenAI does not.
const DefaultMaxTokens = 4096

// unsupported refuses a field the target dialect has no place for, unless it is to be dropped.
func (o Options) unsupported(field, target string) error {
	if o.DropUnsupported {
		return nil
	}
	return apperr.Invalid(field, "%s cannot be translated to the %s dialect of this model's upstream.", field, target)
}

// Stop reasons ↔ finish reasons.
var (
	finishOf = map[string]string{"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop",
		"max_tokens": "length", "tool_use": "tool_calls", "refusal": "content_filter"}
	stopOf = map[string]string{"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
		"function_call": "tool_use", "content_filter": "refusal"}
)

// FinishReason is OpenAI's finish_reason for an Anthropic stop_reason.
func FinishReason(stop string) string {
	if f, ok := finishOf[stop]; ok {
		return f
	}
	return "stop"
}

// StopReason is Anthropic's stop_reason for an OpenAI finish_reason.
func StopReason(finish string) string {
	if s, ok := stopOf[finish]; ok {
		return s
	}
	return "end_turn"
}

// UsageFromAnthropic is OpenAI's usage for Anthropic's: prompt_tokens counts the cached tokens
// too (OpenAI includes them, Anthropic reports them apart).
func UsageFromAnthropic(u wire.AUsage) *wire.Usage {
	prompt := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	out := &wire.Usage{PromptTokens: prompt, CompletionTokens: u.OutputTokens, TotalTokens: prompt + u.OutputTokens}
	if u.CacheReadInputTokens > 0 || u.CacheCreationInputTokens > 0 {
		out.PromptTokensDetails = &wire.PromptTokensDetails{CachedTokens: u.CacheReadInputTokens, CacheWriteTokens: u.CacheCreationInputTokens}
	}
	return out
}

// UsageToAnthropic is the reverse of UsageFromAnthropic.
func UsageToAnthropic(u *wire.Usage) wire.AUsage {
	if u == nil {
		return wire.AUsage{}
	}
	out := wire.AUsage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, CostUSD: u.CostUSD, Estimated: u.Estimated}
	if d := u.PromptTokensDetails; d != nil {
		out.CacheReadInputTokens, out.CacheCreationInputTokens = d.CachedTokens, d.CacheWriteTokens
		out.InputTokens = max(u.PromptTokens-d.CachedTokens-d.CacheWriteTokens, 0)
	}
	return out
}

// oaPart is an OpenAI content part the translation writes.
type oaPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *imageURL `json:"image_url,omitempty"`
}

type imageURL struct {
	URL string `json:"url"`
}

// ChatFromMessages is the OpenAI chat request for an Anthropic Messages request (an Anthropic
// client on an OpenAI-compatible upstream).
func ChatFromMessages(req *wire.MessagesRequest, o Options) (*wire.ChatRequest, error) {
	out := &wire.ChatRequest{Model: req.Model, MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP, Stream: req.Stream}
	switch {
	case len(req.Thinking) > 0 && string(req.Thinking) != "null":
		if err := o.unsupported("thinking", "OpenAI"); err != nil {
			return nil, err
		}
	case req.TopK != nil:
		if err := o.unsupported("top_k", "OpenAI"); err != nil {
			return nil, err
		}
	}
	if len(req.StopSequences) > 0 {
		stop := wire.Stop(req.StopSequences)
		out.Stop = &stop
	}
	if req.Metadata != nil {
		out.User = req.Metadata.UserID
	}
	if req.System != nil && req.System.Text != "" {
		out.Messages = append(out.Messages, wire.Message{Role: "system", Content: wire.TextContent(req.System.Text)})
	}
	for i, m := range req.Messages {
		msgs, err := chatMessages(m, fmt.Sprintf("messages.%d", i), o)
		if err != nil {
			return nil, err
		}
		out.Messages = append(out.Messages, msgs...)
	}
	for i, t := range req.Tools {
		if t.Type != "" && t.Type != "custom" {
			if err := o.unsupported(fmt.Sprintf("tools.%d", i), "OpenAI"); err != nil {
				return nil, err
			}
			continue
		}
		params := t.InputSchema
		if len(params) == 0 {
			params = json.RawMessage(`{"type":"object"}`)
		}
		out.Tools = append(out.Tools, wire.Tool{Type: "function", Function: wire.FunctionSpec{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	if c := req.ToolChoice; c != nil {
		out.ToolChoice = chatToolChoiceFromAnthropic(c)
		if c.DisableParallelToolUse != nil && *c.DisableParallelToolUse {
			f := false
			out.ParallelToolCalls = &f
		}
	}
	return out, nil
}

func chatToolChoiceFromAnthropic(c *wire.AToolChoice) json.RawMessage {
	switch c.Type {
	case "any":
		return json.RawMessage(`"required"`)
	case "none":
		return json.RawMessage(`"none"`)
	case "tool":
		name, _ := json.Marshal(c.Name)
		return json.RawMessage(`{"type":"function","function":{"name":` + string(name) + `}}`)
	}
	return json.RawMessage(`"auto"`)
}

// chatMessages is one Anthropic turn as OpenAI messages: tool results become `tool` messages
// (first: they answer the previous assistant turn), the rest one user or assistant message.
func chatMessages(m wire.AMessage, at string, o Options) ([]wire.Message, error) {
	var out []wire.Message
	var parts []oaPart
	var text strings.Builder
	var calls []wire.ToolCall
	image := false
	for j, b := range m.Content {
		field := fmt.Sprintf("%s.content.%d", at, j)
		switch b.Type {
		case "text":
			parts = append(parts, oaPart{Type: "text", Text: b.Text})
			text.WriteString(b.Text)
		case "image":
			u, err := imageDataURL(b.Source)
			if err != nil {
				return nil, apperr.Invalid(field+".source", "%s.source: %s", field, err)
			}
			parts = append(parts, oaPart{Type: "image_url", ImageURL: &imageURL{URL: u}})
			image = true
		case "tool_use":
			if m.Role != "assistant" {
				return nil, apperr.Invalid(field, "%s: tool_use blocks belong to assistant turns.", field)
			}
			args := string(b.Input)
			if args == "" {
				args = "{}"
			}
			calls = append(calls, wire.ToolCall{ID: b.ID, Type: "function", Function: wire.FunctionCall{Name: b.Name, Arguments: args}})
		case "tool_result":
			content := ""
			if b.Content != nil {
				content = b.Content.Text
			}
			out = append(out, wire.Message{Role: "tool", ToolCallID: b.ToolUseID, Content: wire.TextContent(content)})
		case "thinking", "redacted_thinking":
			// An earlier turn's reasoning: OpenAI chat has no place for it, and it is not input.
		default:
			if err := o.unsupported(field+".type", "OpenAI"); err != nil {
				return nil, err
			}
		}
	}
	if len(parts) == 0 && len(calls) == 0 {
		return out, nil
	}
	msg := wire.Message{Role: m.Role, ToolCalls: calls, Content: wire.TextContent(text.String())}
	if image {
		raw, _ := json.Marshal(parts)
		msg.Content = wire.Content{Text: text.String(), Parts: raw, Set: true}
	} else if len(parts) == 0 {
		msg.Content = wire.Content{Null: true, Set: true}
	}
	return append(out, msg), nil
}

// imageDataURL is OpenAI's image_url for an Anthropic image source.
func imageDataURL(s *wire.ASource) (string, error) {
	switch {
	case s == nil:
		return "", fmt.Errorf("an image needs a source")
	case s.Type == "base64" && s.MediaType != "" && s.Data != "":
		return "data:" + s.MediaType + ";base64," + s.Data, nil
	case s.Type == "url" && s.URL != "":
		return s.URL, nil
	}
	return "", fmt.Errorf("the source must be base64 (media_type, data) or url")
}

// MessageFromChat is the Anthropic message for an OpenAI chat completion (its first choice).
func MessageFromChat(resp *wire.ChatResponse, model string) (*wire.MessagesResponse, error) {
	if len(resp.Choices) == 0 {
		return nil, fmt.Errorf("a chat completion without choices")
	}
	c := resp.Choices[0]
	out := &wire.MessagesResponse{ID: messageID(resp.ID), Type: "message", Role: "assistant", Model: model,
		Content: []wire.ABlock{}, Usage: UsageToAnthropic(resp.Usage)}
	if t := c.Message.Content.Text; t != "" {
		out.Content = append(out.Content, wire.ABlock{Type: "text", Text: t})
	}
	for _, tc := range c.Message.ToolCalls {
		input, err := toolInput(tc.Function.Arguments)
		if err != nil {
			return nil, err
		}
		out.Content = append(out.Content, wire.ABlock{Type: "tool_use", ID: toolUseID(tc.ID), Name: tc.Function.Name, Input: input})
	}
	stop := StopReason(c.FinishReason)
	out.StopReason = &stop
	return out, nil
}

// toolInput is a tool call's arguments as Anthropic's input object.
func toolInput(args string) (json.RawMessage, error) {
	if strings.TrimSpace(args) == "" {
		return json.RawMessage(`{}`), nil
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(args), &v); err != nil {
		return nil, fmt.Errorf("tool call arguments are not a JSON object: %w", err)
	}
	return json.RawMessage(args), nil
}

// messageID and toolUseID give ids Anthropic's prefixes; the rest of the id is kept, so the
// same call has the same id in both dialects (a tool_result names it on the next turn).
func messageID(id string) string {
	if strings.HasPrefix(id, "msg_") {
		return id
	}
	return "msg_" + strings.TrimPrefix(id, "chatcmpl-")
}

func toolUseID(id string) string {
	if id == "" || strings.HasPrefix(id, "toolu_") {
		return id
	}
	return "toolu_" + strings.TrimPrefix(id, "call_")
}

// MessagesFromChat is the Anthropic Messages request for an OpenAI chat request (an OpenAI
// client on an Anthropic upstream).
func MessagesFromChat(req *wire.ChatRequest, o Options) (*wire.MessagesRequest, error) {
	if err := chatUnsupported(req, o); err != nil {
		return nil, err
	}
	maxTokens := req.MaxOutputTokens()
	if maxTokens == 0 {
		maxTokens = DefaultMaxTokens
	}
	out := &wire.MessagesRequest{Model: req.Model, MaxTokens: &maxTokens, Temperature: req.Temperature, TopP: req.TopP, Stream: req.Stream,
		Messages: []wire.AMessage{}}
	if req.Temperature != nil && *req.Temperature > 1 {
		t := 1.0 // Anthropic's range is 0–1, OpenAI's 0–2: the top of one is the top of the other
		out.Temperature = &t
	}
	if req.Stop != nil {
		out.StopSequences = *req.Stop
	}
	if req.User != "" {
		out.Metadata = &wire.AMetadata{UserID: req.User}
	}
	var system []string
	for i, m := range req.Messages {
		at := fmt.Sprintf("messages[%d]", i)
		if m.Role == "system" || m.Role == "developer" {
			system = append(system, m.Content.Text)
			continue
		}
		msg, err := anthropicMessage(m, at, o)
		if err != nil {
			return nil, err
		}
		// Anthropic wants turns to alternate: consecutive ones of a role (tool results, then a
		// user's text) become one turn.
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == msg.Role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, msg.Content...)
			continue
		}
		out.Messages = append(out.Messages, msg)
	}
	if len(system) > 0 {
		out.System = &wire.AnthropicText{Text: strings.Join(system, "\n\n")}
	}
	for _, t := range req.Tools {
		schema := t.Function.Parameters
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		out.Tools = append(out.Tools, wire.ATool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	if len(req.ToolChoice) > 0 {
		c, err := anthropicToolChoice(req.ToolChoice)
		if err != nil {
			return nil, err
		}
		out.ToolChoice = c
	}
	if req.ParallelToolCalls != nil && !*req.ParallelToolCalls {
		if out.ToolChoice == nil {
			out.ToolChoice = &wire.AToolChoice{Type: "auto"}
		}
		t := true
		out.ToolChoice.DisableParallelToolUse = &t
	}
	return out, nil
}

// chatUnsupported refuses (or lets drop) what Anthropic's Messages cannot do.
func chatUnsupported(req *wire.ChatRequest, o Options) error {
	checks := []struct {
		field string
		set   bool
	}{
		{"n", req.N != nil && *req.N > 1},
		{"response_format", len(req.ResponseFormat) > 0 && string(req.ResponseFormat) != "null" && !strings.Contains(string(req.ResponseFormat), `"text"`)},
		{"presence_penalty", req.PresencePenalty != nil && *req.PresencePenalty != 0},
		{"frequency_penalty", req.FrequencyPenalty != nil && *req.FrequencyPenalty != 0},
		{"seed", req.Seed != nil},
	}
	for _, c := range checks {
		if c.set {
			if err := o.unsupported(c.field, "Anthropic"); err != nil {
				return err
			}
		}
	}
	return nil
}

// anthropicMessage is one OpenAI message as an Anthropic turn.
func anthropicMessage(m wire.Message, at string, o Options) (wire.AMessage, error) {
	if m.Role == "tool" {
		return wire.AMessage{Role: "user", Content: wire.AContent{{Type: "tool_result", ToolUseID: toolUseID(m.ToolCallID),
			Content: &wire.AnthropicText{Text: m.Content.Text}}}}, nil
	}
	out := wire.AMessage{Role: m.Role, Content: wire.AContent{}}
	if m.Content.Parts != nil {
		blocks, err := anthropicBlocks(m.Content.Parts, at, o)
		if err != nil {
			return out, err
		}
		out.Content = blocks
	} else if m.Content.Text != "" {
		out.Content = append(out.Content, wire.ABlock{Type: "text", Text: m.Content.Text})
	}
	for j, tc := range m.ToolCalls {
		input, err := toolInput(tc.Function.Arguments)
		if err != nil {
			return out, apperr.Invalid(fmt.Sprintf("%s.tool_calls[%d].function.arguments", at, j), "%s.tool_calls[%d].function.arguments must be a JSON object.", at, j)
		}
		out.Content = append(out.Content, wire.ABlock{Type: "tool_use", ID: toolUseID(tc.ID), Name: tc.Function.Name, Input: input})
	}
	if m.Role != "assistant" {
		out.Role = "user"
	}
	return out, nil
}

// anthropicBlocks translates OpenAI content parts: text and image_url.
func anthropicBlocks(raw json.RawMessage, at string, o Options) (wire.AContent, error) {
	var parts []oaPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, apperr.Invalid(at+".content", "%s.content: %s", at, err)
	}
	out := wire.AContent{}
	for j, p := range parts {
		field := fmt.Sprintf("%s.content[%d]", at, j)
		switch {
		case p.Type == "text":
			out = append(out, wire.ABlock{Type: "text", Text: p.Text})
		case p.Type == "image_url" && p.ImageURL != nil:
			out = append(out, wire.ABlock{Type: "image", Source: imageSource(p.ImageURL.URL)})
		default:
			if err := o.unsupported(field, "Anthropic"); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// imageSource is Anthropic's source for an OpenAI image URL: a data URL's base64, or the URL.
func imageSource(u string) *wire.ASource {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		if media, data, ok := strings.Cut(rest, ";base64,"); ok {
			return &wire.ASource{Type: "base64", MediaType: media, Data: data}
		}
	}
	return &wire.ASource{Type: "url", URL: u}
}

// anthropicToolChoice translates OpenAI's tool_choice (validated by the API layer).
func anthropicToolChoice(raw json.RawMessage) (*wire.AToolChoice, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "required":
			return &wire.AToolChoice{Type: "any"}, nil
		case "none":
			return &wire.AToolChoice{Type: "none"}, nil
		}
		return &wire.AToolChoice{Type: "auto"}, nil
	}
	var obj struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Function.Name == "" {
		return nil, apperr.Invalid("tool_choice", "tool_choice must be none, auto, required or a function.")
	}
	return &wire.AToolChoice{Type: "tool", Name: obj.Function.Name}, nil
}

// ChatFromMessage is the OpenAI chat completion for an Anthropic message.
func ChatFromMessage(m *wire.MessagesResponse, created int64) *wire.ChatResponse {
	msg := wire.Message{Role: "assistant"}
	var text strings.Builder
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			input := string(b.Input)
			if input == "" {
				input = "{}"
			}
			msg.ToolCalls = append(msg.ToolCalls, wire.ToolCall{ID: b.ID, Type: "function", Function: wire.FunctionCall{Name: b.Name, Arguments: input}})
		}
	}
	msg.Content = wire.TextContent(text.String())
	if text.Len() == 0 && len(msg.ToolCalls) > 0 {
		msg.Content = wire.Content{Null: true, Set: true}
	}
	finish := "stop"
	if m.StopReason != nil {
		finish = FinishReason(*m.StopReason)
	}
	return &wire.ChatResponse{ID: m.ID, Object: "chat.completion", Created: created, Model: m.Model,
		Choices: []wire.Choice{{Index: 0, Message: msg, FinishReason: finish}}, Usage: UsageFromAnthropic(m.Usage)}
}
