// Package wire holds the OpenAI wire format: the JSON shapes that clients send to the gateway
// and that the gateway sends to OpenAI-compatible upstreams. Sharing one set of types between
// the API, the provider client and the simulator keeps the three faithful to each other.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ChatRequest is an OpenAI chat-completion request. Pointers distinguish "absent" from zero so
// that the gateway forwards exactly what the client asked for.
type ChatRequest struct {
	Model               string          `json:"model,omitempty"`
	Messages            []Message       `json:"messages"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	N                   *int            `json:"n,omitempty"`
	MaxTokens           *int            `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int            `json:"max_completion_tokens,omitempty"`
	Stop                *Stop           `json:"stop,omitempty"`
	PresencePenalty     *float64        `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty,omitempty"`
	Seed                *int64          `json:"seed,omitempty"`
	User                string          `json:"user,omitempty"`
	Tools               []Tool          `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      json.RawMessage `json:"response_format,omitempty"`
	Logprobs            *bool           `json:"logprobs,omitempty"`
	TopLogprobs         *int            `json:"top_logprobs,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`

	// Raw is the client's JSON. Providers forward it with only the model and the stream
	// options patched in, so fields the gateway does not know still reach the upstream and
	// nothing is re-encoded. Whoever changes another field must clear it.
	Raw []byte `json:"-"`
}

// MaxOutputTokens is the completion limit the client asked for, whichever field it used.
func (r *ChatRequest) MaxOutputTokens() int {
	switch {
	case r.MaxCompletionTokens != nil:
		return *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		return *r.MaxTokens
	}
	return 0
}

// StreamOptions asks a streaming upstream to append a usage chunk.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Stop is OpenAI's `stop`: a string or an array of strings.
type Stop []string

// UnmarshalJSON accepts both shapes.
func (s *Stop) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("stop must be a string or an array of strings")
	}
	*s = many
	return nil
}

// Message is one chat message.
type Message struct {
	Role       string     `json:"role"`
	Content    Content    `json:"content,omitzero"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// Content is a message's content: a string, an array of content parts, or null (assistant
// messages that only call tools). Text keeps the concatenated text parts; Parts keeps the raw
// array so it is forwarded unchanged.
type Content struct {
	Text  string
	Parts json.RawMessage
	Null  bool
	Set   bool // the field was present in the JSON (false: absent)
}

// TextContent builds a plain string content.
func TextContent(s string) Content { return Content{Text: s, Set: true} }

// UnmarshalJSON accepts a string, null, or an array of parts with at least a `type`.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*c = Content{Null: true, Set: true}
		return nil
	case len(b) > 1 && b[0] == '"':
		// Fast path: most content has no escapes, so the bytes between the quotes are the text.
		if inner := b[1 : len(b)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) && b[len(b)-1] == '"' {
			*c = Content{Text: string(inner), Set: true}
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = Content{Text: s, Set: true}
		return nil
	case len(b) > 0 && b[0] == '[':
		var parts []contentPart
		if err := json.Unmarshal(b, &parts); err != nil {
			return errors.New("content parts must be objects with a type")
		}
		var text bytes.Buffer
		for _, p := range parts {
			if p.Type == "" {
				return errors.New("every content part needs a type")
			}
			if p.Type == "text" {
				text.WriteString(p.Text)
			}
		}
		*c = Content{Text: text.String(), Parts: append(json.RawMessage(nil), b...), Set: true}
		return nil
	}
	return errors.New("content must be a string, an array of content parts or null")
}

// contentPart is what the gateway reads of a content part (the rest is forwarded as is).
type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// keyShape tells CheckKeys what UnmarshalJSON reads: for an array, the parts' type and text.
func (Content) keyShape() reflect.Type { return reflect.TypeFor[[]contentPart]() }

// IsZero is true for content that was never set: it is then omitted, not sent as "".
func (c Content) IsZero() bool { return !c.Set && !c.Null && c.Text == "" && c.Parts == nil }

// MarshalJSON writes the shape that was read.
func (c Content) MarshalJSON() ([]byte, error) {
	switch {
	case c.Parts != nil:
		return c.Parts, nil
	case c.Null:
		return []byte("null"), nil
	}
	return json.Marshal(c.Text)
}

// Tool is a function the model may call.
type Tool struct {
	Type     string       `json:"type"`
	Function FunctionSpec `json:"function"`
}

// FunctionSpec describes a callable function.
type FunctionSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// ToolCall is a model's request to call a function.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall carries the function name and its JSON-encoded arguments.
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// ChatResponse is a `chat.completion` object.
type ChatResponse struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []Choice `json:"choices"`
	Usage             *Usage   `json:"usage,omitempty"`
	SystemFingerprint string   `json:"system_fingerprint,omitempty"`
}

// Choice is one completion alternative.
type Choice struct {
	Index        int             `json:"index"`
	Message      Message         `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     *ChoiceLogprobs `json:"logprobs,omitempty"`
}

// ChoiceLogprobs are a choice's token log probabilities (when the request asked for them).
type ChoiceLogprobs struct {
	Content []Logprob `json:"content"`
}

// WantsLogprobs reports whether the request asks for log probabilities, and how many
// alternatives per token.
func (r *ChatRequest) WantsLogprobs() (bool, int) {
	top := 0
	if r.TopLogprobs != nil {
		top = *r.TopLogprobs
	}
	return r.Logprobs != nil && *r.Logprobs, top
}

// Usage counts tokens. CostUSD and Estimated are the gateway's additions: the price of the
// request, and whether the token counts were estimated because the upstream did not report them.
type Usage struct {
	PromptTokens        int                  `json:"prompt_tokens"`
	CompletionTokens    int                  `json:"completion_tokens"`
	TotalTokens         int                  `json:"total_tokens"`
	PromptTokensDetails *PromptTokensDetails `json:"prompt_tokens_details,omitempty"`
	// CompletionTokensDetails is read only where an answer is decoded (Responses translation).
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
	CostUSD                 *float64                 `json:"cost_usd,omitempty"`
	Estimated               bool                     `json:"estimated,omitempty"`
}

// PromptTokensDetails reports cached input tokens.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
	// CacheWriteTokens are prompt tokens written to the cache (Anthropic's
	// cache_creation_input_tokens), priced apart; OpenAI has no such count.
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
}

// CompletionTokensDetails reports reasoning tokens.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// Chunk is a `chat.completion.chunk` stream event.
type Chunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []ChunkChoice `json:"choices"`
	Usage   *Usage        `json:"usage,omitempty"`
}

// ChunkChoice is the incremental part of a chunk.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     *ChoiceLogprobs `json:"logprobs,omitempty"`
}

// Delta is the newly generated content.
type Delta struct {
	Role      string     `json:"role,omitempty"`
	Content   string     `json:"content,omitempty"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
}

// ImageRequest is an OpenAI image-generation request.
type ImageRequest struct {
	Prompt         string `json:"prompt"`
	Model          string `json:"model,omitempty"`
	N              *int   `json:"n,omitempty"`
	Size           string `json:"size,omitempty"`
	Quality        string `json:"quality,omitempty"`
	ResponseFormat string `json:"response_format,omitempty"`
	Style          string `json:"style,omitempty"`
	User           string `json:"user,omitempty"`
}

// Count is the number of images asked for (OpenAI's default is 1).
func (r *ImageRequest) Count() int {
	if r.N == nil {
		return 1
	}
	return *r.N
}

// ImageResponse is the images endpoint's answer.
type ImageResponse struct {
	Created int64       `json:"created"`
	Data    []ImageData `json:"data"`
	Usage   *ImageUsage `json:"usage,omitempty"`
	Model   string      `json:"model,omitempty"`
}

// ImageData is one generated image.
type ImageData struct {
	B64JSON       string `json:"b64_json,omitempty"`
	URL           string `json:"url,omitempty"`
	RevisedPrompt string `json:"revised_prompt,omitempty"`
}

// ImageUsage is what the gateway adds to image responses: images produced and their cost.
type ImageUsage struct {
	Images  int      `json:"images"`
	CostUSD *float64 `json:"cost_usd,omitempty"`
}

// ModelList is the `/v1/models` answer.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

// Model is one entry in the model list.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ErrorBody is OpenAI's error envelope.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error inside the envelope.
type ErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Code    *string `json:"code"`
	Param   *string `json:"param"`
	// TraceID is the gateway's addition: the request's trace, for a user to hand to support
	// (also in the X-Trace-Id header). OpenAI's SDKs ignore fields they do not know.
	TraceID string `json:"trace_id,omitempty"`
}

// ImageSizes are the sizes the gateway and the simulator accept, as OpenAI's image models do.
var ImageSizes = []string{"256x256", "512x512", "1024x1024", "1024x1536", "1536x1024", "1024x1792", "1792x1024", "auto"}

// ParseSize returns the pixel dimensions of a size ("auto" is 1024x1024).
func ParseSize(s string) (w, h int, ok bool) {
	if s == "" || s == "auto" {
		return 1024, 1024, true
	}
	ws, hs, found := strings.Cut(s, "x")
	if !found {
		return 0, 0, false
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if err1 != nil || err2 != nil || w < 1 || h < 1 || w > 4096 || h > 4096 {
		return 0, 0, false
	}
	return w, h, true
}
