package translate

import (
	"encoding/json"
	"slices"
	"strconv"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/wire"
)

// ToChat is the chat completion request that asks a chat-only upstream what a Responses request
// asks: history (the stored conversation before previous_response_id's answer, included) and
// the input become messages, `instructions` the leading system message, function tools chat
// tools, `text.format` the `response_format`, `max_output_tokens` `max_tokens`. A Responses
// feature chat cannot express (a built-in tool, an item reference) is a 400 naming it.
func ToChat(req *wire.ResponsesRequest, history []wire.InputItem) (*wire.ChatRequest, error) {
	out := &wire.ChatRequest{Model: req.Model, Temperature: req.Temperature, TopP: req.TopP,
		MaxTokens: req.MaxOutputTokens, User: req.User, Stream: req.Stream}
	if req.Stream {
		out.StreamOptions = &wire.StreamOptions{IncludeUsage: true}
	}
	if req.TopLogprobs != nil || slices.Contains(req.Include, "message.output_text.logprobs") {
		yes := true
		out.Logprobs, out.TopLogprobs = &yes, req.TopLogprobs
	}
	if req.Instructions != nil && *req.Instructions != "" {
		out.Messages = append(out.Messages, wire.Message{Role: "system", Content: wire.TextContent(*req.Instructions)})
	}
	msgs, err := Messages(history, "")
	if err != nil {
		return nil, err
	}
	in, err := Messages(req.Input.AsItems(), "input")
	if err != nil {
		return nil, err
	}
	out.Messages = append(append(out.Messages, msgs...), in...)
	for i, t := range req.Tools {
		if t.Type != "function" {
			return nil, apperr.Invalid(param("tools", i, "type"), "The tool type %q is not supported by this model's upstream (chat completions); only function tools are.", apperr.Excerpt(t.Type))
		}
		out.Tools = append(out.Tools, wire.Tool{Type: "function", Function: wire.FunctionSpec{Name: t.Name, Description: t.Description, Parameters: t.Parameters}})
	}
	if len(out.Tools) > 0 {
		out.ParallelToolCalls = req.ParallelToolCalls
	}
	if out.ToolChoice, err = chatToolChoice(req.ToolChoice); err != nil {
		return nil, err
	}
	if req.Text != nil && req.Text.Format != nil {
		if out.ResponseFormat, err = chatFormat(req.Text.Format); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Messages turns Responses items into chat messages: a run of function calls becomes one
// assistant message with tool_calls (joined to the assistant text just before it, as chat
// has it), a function_call_output a tool message. where prefixes the parameter of an error.
func Messages(items []wire.InputItem, where string) ([]wire.Message, error) {
	var out []wire.Message
	for i, it := range items {
		switch it.Kind() {
		case "message":
			m, err := message(it, param(where, i, "content"))
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		case "function_call":
			tc := wire.ToolCall{ID: it.CallID, Type: "function", Function: wire.FunctionCall{Name: it.Name, Arguments: it.Arguments}}
			if n := len(out); n > 0 && out[n-1].Role == "assistant" {
				out[n-1].ToolCalls = append(out[n-1].ToolCalls, tc)
				continue
			}
			out = append(out, wire.Message{Role: "assistant", Content: wire.Content{Null: true, Set: true}, ToolCalls: []wire.ToolCall{tc}})
		case "function_call_output":
			out = append(out, wire.Message{Role: "tool", ToolCallID: it.CallID, Content: wire.TextContent(it.Output.AllText())})
		default:
			return nil, apperr.Invalid(param(where, i, "type"), "The input item type %q is not supported by this model's upstream (chat completions).", apperr.Excerpt(it.Type))
		}
	}
	return out, nil
}

// message converts one message item: input parts become chat content parts; an assistant's
// output parts, its text.
func message(it wire.InputItem, where string) (wire.Message, error) {
	m := wire.Message{Role: it.Role}
	if it.Content.Parts == nil || it.Role == "assistant" {
		m.Content = wire.TextContent(it.Content.AllText())
		return m, nil
	}
	parts := make([]map[string]any, 0, len(it.Content.Parts))
	for j, p := range it.Content.Parts {
		switch p.Type {
		case "input_text", "output_text", "text":
			parts = append(parts, map[string]any{"type": "text", "text": p.Text})
		case "input_image":
			img := map[string]any{"url": p.ImageURL}
			if p.Detail != "" {
				img["detail"] = p.Detail
			}
			parts = append(parts, map[string]any{"type": "image_url", "image_url": img})
		case "input_file":
			f := map[string]any{}
			for k, v := range map[string]string{"file_id": p.FileID, "file_data": p.FileData, "filename": p.Filename} {
				if v != "" {
					f[k] = v
				}
			}
			parts = append(parts, map[string]any{"type": "file", "file": f})
		default:
			return m, apperr.Invalid(param(where, j, "type"), "The content part type %q is not supported.", apperr.Excerpt(p.Type))
		}
	}
	raw, err := json.Marshal(parts)
	if err != nil {
		return m, apperr.Wrap(apperr.Internal, err, "encode content parts")
	}
	m.Content = wire.Content{Text: it.Content.AllText(), Parts: raw, Set: true}
	return m, nil
}

// chatToolChoice maps Responses' tool_choice ({"type":"function","name"}) to chat's
// ({"type":"function","function":{"name"}}); the strings are the same in both.
func chatToolChoice(tc json.RawMessage) (json.RawMessage, error) {
	if len(tc) == 0 || tc[0] == '"' {
		return tc, nil
	}
	var named struct{ Type, Name string }
	if err := json.Unmarshal(tc, &named); err != nil || named.Type != "function" || named.Name == "" {
		return nil, apperr.Invalid("tool_choice", "tool_choice must be none, auto, required or {\"type\":\"function\",\"name\":…} for this model's upstream.")
	}
	return json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": named.Name}})
}

// chatFormat maps text.format to chat's response_format (json_schema's members nest there).
func chatFormat(f *wire.TextFormat) (json.RawMessage, error) {
	switch f.Type {
	case "text", "json_object":
		return json.Marshal(map[string]string{"type": f.Type})
	case "json_schema":
		js := map[string]any{"name": f.Name, "schema": f.Schema}
		if f.Description != "" {
			js["description"] = f.Description
		}
		if f.Strict != nil {
			js["strict"] = *f.Strict
		}
		return json.Marshal(map[string]any{"type": "json_schema", "json_schema": js})
	}
	return nil, apperr.Invalid("text.format.type", "text.format.type must be text, json_object or json_schema, not %q.", apperr.Excerpt(f.Type))
}

// FromChatRequest is the Responses request a chat request corresponds to — ToChat's inverse
// for what both can say (the simulator answers Responses with its chat logic through it, and
// round trips check the pair).
func FromChatRequest(c *wire.ChatRequest) *wire.ResponsesRequest {
	out := &wire.ResponsesRequest{Model: c.Model, Temperature: c.Temperature, TopP: c.TopP, User: c.User, Stream: c.Stream,
		ParallelToolCalls: c.ParallelToolCalls, Input: wire.ResponseInput{Items: []wire.InputItem{}, Set: true}}
	if n := c.MaxOutputTokens(); n > 0 {
		out.MaxOutputTokens = &n
	}
	msgs := c.Messages
	if len(msgs) > 0 && msgs[0].Role == "system" {
		s := msgs[0].Content.Text
		out.Instructions, msgs = &s, msgs[1:]
	}
	for _, m := range msgs {
		out.Input.Items = append(out.Input.Items, items(m)...)
	}
	for _, t := range c.Tools {
		out.Tools = append(out.Tools, wire.ResponseTool{Type: "function", Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	out.ToolChoice = responsesToolChoice(c.ToolChoice)
	if f := responsesFormat(c.ResponseFormat); f != nil {
		out.Text = &wire.ResponseText{Format: f}
	}
	return out
}

// items is one chat message as Responses items.
func items(m wire.Message) []wire.InputItem {
	switch {
	case m.Role == "tool":
		return []wire.InputItem{{Type: "function_call_output", CallID: m.ToolCallID, Output: wire.ItemContent{Text: m.Content.Text, IsText: true}}}
	case m.Role == "assistant":
		var out []wire.InputItem
		if !m.Content.Null && (m.Content.Text != "" || len(m.ToolCalls) == 0) {
			out = append(out, wire.InputItem{Type: "message", Role: "assistant", Content: wire.ItemContent{Text: m.Content.Text, IsText: true}})
		}
		for _, tc := range m.ToolCalls {
			out = append(out, wire.InputItem{Type: "function_call", CallID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		return out
	}
	it := wire.InputItem{Type: "message", Role: m.Role, Content: wire.ItemContent{Text: m.Content.Text, IsText: true}}
	if m.Content.Parts != nil {
		it.Content = wire.ItemContent{Parts: inputParts(m.Content.Parts)}
	}
	return []wire.InputItem{it}
}

// inputParts maps chat content parts to Responses input parts.
func inputParts(raw json.RawMessage) []wire.ContentPart {
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL struct {
			URL    string `json:"url"`
			Detail string `json:"detail"`
		} `json:"image_url"`
		File struct {
			FileID   string `json:"file_id"`
			FileData string `json:"file_data"`
			Filename string `json:"filename"`
		} `json:"file"`
	}
	_ = json.Unmarshal(raw, &parts) // wire.Content checked the array's shape
	out := make([]wire.ContentPart, 0, len(parts))
	for _, p := range parts {
		switch p.Type {
		case "image_url":
			out = append(out, wire.ContentPart{Type: "input_image", ImageURL: p.ImageURL.URL, Detail: p.ImageURL.Detail})
		case "file":
			out = append(out, wire.ContentPart{Type: "input_file", FileID: p.File.FileID, FileData: p.File.FileData, Filename: p.File.Filename})
		default:
			out = append(out, wire.ContentPart{Type: "input_text", Text: p.Text})
		}
	}
	return out
}

func responsesToolChoice(tc json.RawMessage) json.RawMessage {
	if len(tc) == 0 || tc[0] == '"' {
		return tc
	}
	var named struct {
		Function struct{ Name string } `json:"function"`
	}
	if json.Unmarshal(tc, &named) != nil || named.Function.Name == "" {
		return tc
	}
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}{"function", named.Function.Name})
	return b
}

// responsesFormat maps chat's response_format to text.format (nil when absent or unreadable).
func responsesFormat(rf json.RawMessage) *wire.TextFormat {
	if len(rf) == 0 {
		return nil
	}
	var f struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Schema      json.RawMessage `json:"schema"`
			Strict      *bool           `json:"strict"`
		} `json:"json_schema"`
	}
	if json.Unmarshal(rf, &f) != nil || f.Type == "" {
		return nil
	}
	js := f.JSONSchema
	return &wire.TextFormat{Type: f.Type, Name: js.Name, Description: js.Description, Schema: js.Schema, Strict: js.Strict}
}

// param is where in the request an item is: "input[3].content".
func param(where string, i int, field string) string {
	return where + "[" + strconv.Itoa(i) + "]." + field
}
