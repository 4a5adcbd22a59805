package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
)

// ResponsesRequest is the body of OpenAI's POST /v1/responses. Pointers tell "absent" from
// zero, so a translation sends the upstream only what the client asked for. Raw is the body as
// sent: an upstream that speaks Responses gets it with only `model` changed.
type ResponsesRequest struct {
	Model              string            `json:"model,omitempty"`
	Input              ResponseInput     `json:"input,omitzero"`
	Instructions       *string           `json:"instructions,omitempty"`
	Tools              []ResponseTool    `json:"tools,omitempty"`
	ToolChoice         json.RawMessage   `json:"tool_choice,omitempty"`
	ParallelToolCalls  *bool             `json:"parallel_tool_calls,omitempty"`
	Text               *ResponseText     `json:"text,omitempty"`
	MaxOutputTokens    *int              `json:"max_output_tokens,omitempty"`
	Temperature        *float64          `json:"temperature,omitempty"`
	TopP               *float64          `json:"top_p,omitempty"`
	TopLogprobs        *int              `json:"top_logprobs,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	Store              *bool             `json:"store,omitempty"`
	PreviousResponseID string            `json:"previous_response_id,omitempty"`
	Stream             bool              `json:"stream,omitempty"`
	Truncation         string            `json:"truncation,omitempty"`
	User               string            `json:"user,omitempty"`
	Include            []string          `json:"include,omitempty"`

	Raw []byte `json:"-"`
}

// Stored is whether the response is to be kept (OpenAI's default is yes).
func (r *ResponsesRequest) Stored() bool { return r.Store == nil || *r.Store }

// ResponseInput is `input`: a string (one user message) or an array of input items.
type ResponseInput struct {
	Items  []InputItem
	Text   string
	IsText bool
	Set    bool
	// BadShape is an input of neither shape: it decodes without error so that the validation
	// names `input` instead of the decoder failing on the whole body.
	BadShape bool
}

// UnmarshalJSON reads both shapes.
func (in *ResponseInput) UnmarshalJSON(b []byte) error {
	*in = ResponseInput{}
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		in.Set, in.IsText = true, true
		return json.Unmarshal(b, &in.Text)
	case len(b) > 0 && b[0] == '[':
		in.Set = true
		if err := json.Unmarshal(b, &in.Items); err != nil {
			return err
		}
		if in.Items == nil {
			in.Items = []InputItem{}
		}
		return nil
	}
	in.Set, in.BadShape = true, true
	return nil
}

// MarshalJSON writes the shape that was read.
func (in ResponseInput) MarshalJSON() ([]byte, error) {
	if in.IsText {
		return json.Marshal(in.Text)
	}
	if in.Items == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(in.Items)
}

// IsZero omits an input that was never set.
func (in ResponseInput) IsZero() bool { return !in.Set && in.Items == nil && !in.IsText }

// AsItems is the input as items: a string is one user message.
func (in ResponseInput) AsItems() []InputItem {
	if in.IsText {
		return []InputItem{{Type: "message", Role: "user", Content: ItemContent{Text: in.Text, IsText: true}}}
	}
	return in.Items
}

// keyShape tells CheckKeys that an array input holds items.
func (ResponseInput) keyShape() reflect.Type { return reflect.TypeFor[[]InputItem]() }

// InputItem is one item of a Responses input (and of a stored conversation): a message
// (type "message" or absent, with a role), a function_call, or a function_call_output.
type InputItem struct {
	Type      string      `json:"type,omitempty"`
	ID        string      `json:"id,omitempty"`
	Role      string      `json:"role,omitempty"`
	Content   ItemContent `json:"content,omitzero"`
	Status    string      `json:"status,omitempty"`
	CallID    string      `json:"call_id,omitempty"`
	Name      string      `json:"name,omitempty"`
	Arguments string      `json:"arguments,omitempty"`
	Output    ItemContent `json:"output,omitzero"`
}

// Kind is the item's type, "message" when it has a role and no type.
func (it *InputItem) Kind() string {
	if it.Type == "" && it.Role != "" {
		return "message"
	}
	return it.Type
}

// ItemContent is a message's content or a tool output: a string or an array of parts.
type ItemContent struct {
	Text   string
	Parts  []ContentPart
	IsText bool
}

// ContentPart is one part of an input message (input_text, input_image, input_file) or of an
// output message (output_text, refusal).
type ContentPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text,omitempty"`
	ImageURL string          `json:"image_url,omitempty"`
	Detail   string          `json:"detail,omitempty"`
	FileID   string          `json:"file_id,omitempty"`
	FileData string          `json:"file_data,omitempty"`
	Filename string          `json:"filename,omitempty"`
	Refusal  string          `json:"refusal,omitempty"`
	Annots   json.RawMessage `json:"annotations,omitempty"`
}

// UnmarshalJSON reads a string or an array of parts, each with a type.
func (c *ItemContent) UnmarshalJSON(b []byte) error {
	*c = ItemContent{}
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		c.IsText = true
		return json.Unmarshal(b, &c.Text)
	case len(b) > 0 && b[0] == '[':
		if err := json.Unmarshal(b, &c.Parts); err != nil {
			return errors.New("content parts must be objects with a type")
		}
		if c.Parts == nil {
			c.Parts = []ContentPart{}
		}
		for _, p := range c.Parts {
			if p.Type == "" {
				return errors.New("every content part needs a type")
			}
		}
		return nil
	}
	return errors.New("content must be a string or an array of content parts")
}

// MarshalJSON writes the shape that was read.
func (c ItemContent) MarshalJSON() ([]byte, error) {
	if c.Parts != nil {
		return json.Marshal(c.Parts)
	}
	return json.Marshal(c.Text)
}

// IsZero omits content that was never set.
func (c ItemContent) IsZero() bool { return !c.IsText && c.Parts == nil && c.Text == "" }

// keyShape tells CheckKeys that an array content holds parts.
func (ItemContent) keyShape() reflect.Type { return reflect.TypeFor[[]ContentPart]() }

// AllText is the text of the content: the string, or its text parts joined.
func (c ItemContent) AllText() string {
	if c.Parts == nil {
		return c.Text
	}
	var sb strings.Builder
	for _, p := range c.Parts {
		sb.WriteString(p.Text)
	}
	return sb.String()
}

// ResponseTool is a tool offered in a Responses request: function tools have their name and
// schema at the top level (chat nests them under `function`).
type ResponseTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ResponseText is the `text` option: the output format.
type ResponseText struct {
	Format *TextFormat `json:"format,omitempty"`
}

// TextFormat is `text.format`: text, json_object, or json_schema with its name and schema at
// the top level (chat nests them under `json_schema`).
type TextFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Response is the `response` object.
type Response struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"`
	Error              *ResponseError     `json:"error"`
	IncompleteDetails  *IncompleteDetails `json:"incomplete_details"`
	Instructions       *string            `json:"instructions"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	Model              string             `json:"model"`
	Output             []OutputItem       `json:"output"`
	OutputText         string             `json:"output_text"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Store              bool               `json:"store"`
	Temperature        *float64           `json:"temperature"`
	Text               ResponseText       `json:"text"`
	ToolChoice         json.RawMessage    `json:"tool_choice"`
	Tools              []ResponseTool     `json:"tools"`
	TopP               *float64           `json:"top_p"`
	Truncation         string             `json:"truncation"`
	Usage              *ResponseUsage     `json:"usage"`
	User               *string            `json:"user"`
	Metadata           map[string]string  `json:"metadata"`
}

// ResponseError is why a response failed.
type ResponseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// IncompleteDetails says why a response stopped early ("max_output_tokens", "content_filter").
type IncompleteDetails struct {
	Reason string `json:"reason"`
}

// OutputItem is one item of a response's output: a message with output_text parts, or a
// function_call.
type OutputItem struct {
	Type      string       `json:"type"`
	ID        string       `json:"id"`
	Status    string       `json:"status"`
	Role      string       `json:"role,omitempty"`
	Content   []OutputPart `json:"content,omitzero"` // [] on a message item still streaming: clients iterate it
	CallID    string       `json:"call_id,omitempty"`
	Name      string       `json:"name,omitempty"`
	Arguments *string      `json:"arguments,omitempty"`
}

// OutputPart is one part of an output message.
type OutputPart struct {
	Type        string            `json:"type"`
	Text        string            `json:"text"`
	Annotations []json.RawMessage `json:"annotations"`
	Logprobs    []Logprob         `json:"logprobs,omitempty"`
}

// Logprob is one token's log probability with its alternatives (chat's and Responses' shape).
type Logprob struct {
	Token       string       `json:"token"`
	Logprob     float64      `json:"logprob"`
	Bytes       []int        `json:"bytes"`
	TopLogprobs []TopLogprob `json:"top_logprobs"`
}

// TopLogprob is one alternative token.
type TopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// ResponseUsage is a response's token usage; CostUSD and Estimated are the gateway's additions.
type ResponseUsage struct {
	InputTokens         int                 `json:"input_tokens"`
	InputTokensDetails  InputTokensDetails  `json:"input_tokens_details"`
	OutputTokens        int                 `json:"output_tokens"`
	OutputTokensDetails OutputTokensDetails `json:"output_tokens_details"`
	TotalTokens         int                 `json:"total_tokens"`
	CostUSD             *float64            `json:"cost_usd,omitempty"`
	Estimated           bool                `json:"estimated,omitempty"`
}

// InputTokensDetails reports cached input tokens.
type InputTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// OutputTokensDetails reports reasoning tokens.
type OutputTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// TerminalResponseEvent reports whether an event type is a Responses stream's last.
func TerminalResponseEvent(name string) bool {
	return name == "response.completed" || name == "response.incomplete" || name == "response.failed"
}

// ResponseEvent is one typed event of a Responses stream; which members are set depends on
// Type. Its JSON is the SSE data; Type is also the SSE event name.
type ResponseEvent struct {
	Type           string      `json:"type"`
	SequenceNumber int         `json:"sequence_number"`
	Response       *Response   `json:"response,omitempty"`
	OutputIndex    *int        `json:"output_index,omitempty"`
	ContentIndex   *int        `json:"content_index,omitempty"`
	ItemID         string      `json:"item_id,omitempty"`
	Item           *OutputItem `json:"item,omitempty"`
	Part           *OutputPart `json:"part,omitempty"`
	Delta          *string     `json:"delta,omitempty"`
	Text           *string     `json:"text,omitempty"`
	Arguments      *string     `json:"arguments,omitempty"`
	Name           string      `json:"name,omitempty"`
	Logprobs       []Logprob   `json:"logprobs,omitempty"`
	Code           *string     `json:"code,omitempty"`
	Message        string      `json:"message,omitempty"`
	Param          *string     `json:"param,omitempty"`
}

// InputItemList is the answer of GET /v1/responses/{id}/input_items.
type InputItemList struct {
	Object  string      `json:"object"`
	Data    []InputItem `json:"data"`
	FirstID *string     `json:"first_id"`
	LastID  *string     `json:"last_id"`
	HasMore bool        `json:"has_more"`
}

// DeletedResponse is the answer of DELETE /v1/responses/{id}.
type DeletedResponse struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}
