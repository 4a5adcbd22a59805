package translate

import (
	"encoding/json"
	"strconv"
	"strings"

	"aiservice/service/internal/wire"
)

// NewResponse is the response object for a request before any output: status in_progress,
// the request's settings echoed with OpenAI's defaults, model the public name.
func NewResponse(req *wire.ResponsesRequest, id, model string, createdAt int64) *wire.Response {
	r := &wire.Response{ID: id, Object: "response", CreatedAt: createdAt, Status: "in_progress", Model: model,
		Instructions: req.Instructions, MaxOutputTokens: req.MaxOutputTokens, Output: []wire.OutputItem{},
		ParallelToolCalls: req.ParallelToolCalls == nil || *req.ParallelToolCalls, Store: req.Stored(),
		Temperature: req.Temperature, TopP: req.TopP, Tools: req.Tools, ToolChoice: req.ToolChoice,
		Truncation: req.Truncation, Metadata: req.Metadata, Text: wire.ResponseText{Format: &wire.TextFormat{Type: "text"}}}
	if req.PreviousResponseID != "" {
		p := req.PreviousResponseID
		r.PreviousResponseID = &p
	}
	if req.User != "" {
		u := req.User
		r.User = &u
	}
	if req.Text != nil && req.Text.Format != nil {
		r.Text = *req.Text
	}
	if r.Tools == nil {
		r.Tools = []wire.ResponseTool{}
	}
	if len(r.ToolChoice) == 0 {
		r.ToolChoice = json.RawMessage(`"auto"`)
	}
	if r.Truncation == "" {
		r.Truncation = "disabled"
	}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	return r
}

// Complete fills a response from a chat completion: its first choice's text becomes a message
// item, its tool calls function_call items; a `length` or `content_filter` finish makes the
// response incomplete, as OpenAI's are.
func Complete(r *wire.Response, c *wire.ChatResponse) {
	if len(c.Choices) > 0 {
		ch := c.Choices[0]
		if text := ch.Message.Content.Text; text != "" || len(ch.Message.ToolCalls) == 0 {
			item := MessageItem(ItemID(r.ID, "msg", len(r.Output)), text, "completed")
			if ch.Logprobs != nil {
				item.Content[0].Logprobs = ch.Logprobs.Content
			}
			r.Output = append(r.Output, item)
		}
		for _, tc := range ch.Message.ToolCalls {
			args := tc.Function.Arguments
			r.Output = append(r.Output, wire.OutputItem{Type: "function_call", ID: ItemID(r.ID, "fc", len(r.Output)), Status: "completed",
				CallID: tc.ID, Name: tc.Function.Name, Arguments: &args})
		}
		Finish(r, ch.FinishReason)
	} else {
		Finish(r, "stop")
	}
	r.Usage = Usage(c.Usage)
}

// Finish sets the final status from a chat finish reason and the output_text convenience.
func Finish(r *wire.Response, reason string) {
	r.Status = "completed"
	switch reason {
	case "length":
		r.Status, r.IncompleteDetails = "incomplete", &wire.IncompleteDetails{Reason: "max_output_tokens"}
	case "content_filter":
		r.Status, r.IncompleteDetails = "incomplete", &wire.IncompleteDetails{Reason: "content_filter"}
	}
	r.OutputText = OutputText(r.Output)
}

// OutputText is the text of every output_text part, joined (the SDKs' `output_text`).
func OutputText(items []wire.OutputItem) string {
	var sb strings.Builder
	for _, it := range items {
		for _, p := range it.Content {
			if p.Type == "output_text" {
				sb.WriteString(p.Text)
			}
		}
	}
	return sb.String()
}

// MessageItem is an assistant message item with one output_text part.
func MessageItem(id, text, status string) wire.OutputItem {
	return wire.OutputItem{Type: "message", ID: id, Status: status, Role: "assistant",
		Content: []wire.OutputPart{{Type: "output_text", Text: text, Annotations: []json.RawMessage{}}}}
}

// ItemID derives an output item's id from its response's: unique without a random source.
func ItemID(responseID, prefix string, index int) string {
	return prefix + "_" + strings.TrimPrefix(responseID, "resp_") + "_" + strconv.Itoa(index)
}

// ResponseOfItem is the id of the response an ItemID belongs to (false for another shape).
func ResponseOfItem(itemID string) (string, bool) {
	_, rest, ok := strings.Cut(itemID, "_")
	if i := strings.LastIndexByte(rest, '_'); ok && i > 0 {
		suffix := strings.TrimSuffix(rest[:i], "_in") // input items: ItemID(id+"_in", …)
		return "resp_" + suffix, true
	}
	return "", false
}

// Usage maps chat usage to Responses': cached and reasoning tokens into their details, and
// the gateway's cost and estimate marks kept (nil stays nil).
func Usage(u *wire.Usage) *wire.ResponseUsage {
	if u == nil {
		return nil
	}
	out := &wire.ResponseUsage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens,
		CostUSD: u.CostUSD, Estimated: u.Estimated}
	if u.PromptTokensDetails != nil {
		out.InputTokensDetails.CachedTokens = u.PromptTokensDetails.CachedTokens
	}
	if u.CompletionTokensDetails != nil {
		out.OutputTokensDetails.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
	}
	return out
}

// ChatUsage is Usage's inverse: what a Responses usage is in chat's terms.
func ChatUsage(u *wire.ResponseUsage) *wire.Usage {
	if u == nil {
		return nil
	}
	out := &wire.Usage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.TotalTokens,
		CostUSD: u.CostUSD, Estimated: u.Estimated}
	if u.InputTokensDetails.CachedTokens > 0 {
		out.PromptTokensDetails = &wire.PromptTokensDetails{CachedTokens: u.InputTokensDetails.CachedTokens}
	}
	if u.OutputTokensDetails.ReasoningTokens > 0 {
		out.CompletionTokensDetails = &wire.CompletionTokensDetails{ReasoningTokens: u.OutputTokensDetails.ReasoningTokens}
	}
	return out
}

// Items is a response's output as input items: what a follow-up with previous_response_id
// sends the model as the conversation so far.
func Items(out []wire.OutputItem) []wire.InputItem {
	items := make([]wire.InputItem, 0, len(out))
	for _, o := range out {
		switch o.Type {
		case "message":
			parts := make([]wire.ContentPart, 0, len(o.Content))
			for _, p := range o.Content {
				parts = append(parts, wire.ContentPart{Type: p.Type, Text: p.Text})
			}
			items = append(items, wire.InputItem{Type: "message", ID: o.ID, Role: o.Role, Status: o.Status, Content: wire.ItemContent{Parts: parts}})
		case "function_call":
			args := ""
			if o.Arguments != nil {
				args = *o.Arguments
			}
			items = append(items, wire.InputItem{Type: "function_call", ID: o.ID, Status: o.Status, CallID: o.CallID, Name: o.Name, Arguments: args})
		}
	}
	return items
}
