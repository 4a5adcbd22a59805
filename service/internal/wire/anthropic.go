package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
)

// Anthropic's Messages API (https://docs.anthropic.com/en/api/messages): the second dialect
// the gateway speaks, to its clients on /v1/messages and to Anthropic upstreams.

// MessagesRequest is a Messages API request. Pointers tell "absent" from zero.
type MessagesRequest struct {
	Model         string          `json:"model"`
	MaxTokens     *int            `json:"max_tokens,omitempty"`
	System        *AnthropicText  `json:"system,omitempty"`
	Messages      []AMessage      `json:"messages"`
	Tools         []ATool         `json:"tools,omitempty"`
	ToolChoice    *AToolChoice    `json:"tool_choice,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int            `json:"top_k,omitempty"`
	Metadata      *AMetadata      `json:"metadata,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Thinking      json.RawMessage `json:"thinking,omitempty"`

	// Raw is the client's JSON: an Anthropic upstream is sent it with only the model patched.
	Raw []byte `json:"-"`
	// Version and Beta are the client's anthropic-version and anthropic-beta headers, forwarded
	// to an Anthropic upstream.
	Version, Beta string `json:"-"`
}

// AnthropicText is `system` (or a tool_result's content): a string or an array of blocks.
// Text is the concatenated text; Blocks the array when that was the shape.
type AnthropicText struct {
	Text   string
	Blocks []ABlock
}

// UnmarshalJSON accepts a string or an array of blocks.
func (t *AnthropicText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &t.Text)
	}
	if len(b) == 0 || b[0] != '[' {
		return errors.New("must be a string or an array of content blocks")
	}
	if err := json.Unmarshal(b, &t.Blocks); err != nil {
		return err
	}
	for _, bl := range t.Blocks {
		t.Text += bl.Text
	}
	return nil
}

// MarshalJSON writes the shape that was read.
func (t AnthropicText) MarshalJSON() ([]byte, error) {
	if t.Blocks != nil {
		return json.Marshal(t.Blocks)
	}
	return json.Marshal(t.Text)
}

// AMessage is one turn: content as a string or as blocks (always blocks once decoded).
type AMessage struct {
	Role    string   `json:"role"`
	Content AContent `json:"content"`
}

// AContent is a message's content; a string is read as one text block.
type AContent []ABlock

// UnmarshalJSON accepts a string or an array of blocks.
func (c *AContent) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = AContent{{Type: "text", Text: s}}
		return nil
	}
	if len(b) == 0 || b[0] != '[' {
		return errors.New("must be a string or an array of content blocks")
	}
	var blocks []ABlock
	if err := json.Unmarshal(b, &blocks); err != nil {
		return err
	}
	*c = blocks
	return nil
}

// ABlock is one content block: text, image, document, tool_use, tool_result, thinking….
type ABlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *ASource        `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   *AnthropicText  `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
	Thinking  string          `json:"thinking,omitempty"`
	Signature string          `json:"signature,omitempty"`
	// CacheControl is kept so a passthrough or a re-encoded request keeps its cache breakpoints.
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// ASource is an image or document source: base64 data or a URL.
type ASource struct {
	Type      string `json:"type"` // "base64", "url", "text"
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

// ATool is a tool definition.
type ATool struct {
	Type         string          `json:"type,omitempty"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// AToolChoice is `tool_choice`: auto, any, tool (with name) or none.
type AToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use,omitempty"`
}

// AMetadata is `metadata`.
type AMetadata struct {
	UserID string `json:"user_id,omitempty"`
}

// MessagesResponse is a `message` object.
type MessagesResponse struct {
	ID           string   `json:"id"`
	Type         string   `json:"type"`
	Role         string   `json:"role"`
	Model        string   `json:"model"`
	Content      []ABlock `json:"content"`
	StopReason   *string  `json:"stop_reason"`
	StopSequence *string  `json:"stop_sequence"`
	Usage        AUsage   `json:"usage"`
}

// AUsage is Anthropic's usage. Unlike OpenAI's prompt_tokens, input_tokens excludes the
// tokens read from or written to the prompt cache.
type AUsage struct {
	InputTokens              int      `json:"input_tokens"`
	OutputTokens             int      `json:"output_tokens"`
	CacheCreationInputTokens int      `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int      `json:"cache_read_input_tokens"`
	CostUSD                  *float64 `json:"cost_usd,omitempty"`
	// Estimated marks counts the gateway estimated because the upstream reported none.
	Estimated bool `json:"estimated,omitempty"`
}

// AEvent is one stream event; which fields are set depends on Type.
type AEvent struct {
	Type         string            `json:"type"`
	Message      *MessagesResponse `json:"message,omitempty"`
	Index        *int              `json:"index,omitempty"`
	ContentBlock *ABlock           `json:"content_block,omitempty"`
	Delta        *ADelta           `json:"delta,omitempty"`
	Usage        *AUsage           `json:"usage,omitempty"`
	Error        *AErrorDetail     `json:"error,omitempty"`
}

// ADelta is a content_block_delta's or message_delta's delta.
type ADelta struct {
	Type         string  `json:"type,omitempty"` // text_delta, input_json_delta, thinking_delta, signature_delta
	Text         string  `json:"text,omitempty"`
	PartialJSON  *string `json:"partial_json,omitempty"`
	Thinking     string  `json:"thinking,omitempty"`
	StopReason   *string `json:"stop_reason,omitempty"`
	StopSequence *string `json:"stop_sequence,omitempty"`
}

// AErrorBody is Anthropic's error envelope (also the data of a stream's `error` event).
type AErrorBody struct {
	Type  string       `json:"type"` // "error"
	Error AErrorDetail `json:"error"`
}

// AErrorDetail is the error inside it.
type AErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	// TraceID is the gateway's addition, as in OpenAI's shape; SDKs ignore it.
	TraceID string `json:"trace_id,omitempty"`
}

// CountTokensResponse is /v1/messages/count_tokens' answer.
type CountTokensResponse struct {
	InputTokens int `json:"input_tokens"`
}

// MarshalJSON always writes a text block's text, even empty: a stream's content_block_start
// carries `"text":""`, which SDKs append the deltas to.
func (b ABlock) MarshalJSON() ([]byte, error) {
	type plain ABlock
	if b.Type == "text" && b.Text == "" {
		return json.Marshal(struct {
			plain
			Text string `json:"text"`
		}{plain(b), ""})
	}
	return json.Marshal(plain(b))
}

// keyShape tells CheckKeys that both shapes' arrays are blocks.
func (AContent) keyShape() reflect.Type { return reflect.TypeFor[[]ABlock]() }

// keyShape tells CheckKeys that both shapes' arrays are blocks.
func (AnthropicText) keyShape() reflect.Type { return reflect.TypeFor[[]ABlock]() }
