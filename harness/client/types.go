package client

import "encoding/json"

// The API's JSON shapes, written from the consumer's side (the harness never imports the
// service's packages): what a client of aiservice relies on.

// Message is one chat message.
type Message struct {
	Role       string     `json:"role"`
	Content    *string    `json:"content"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// Text builds a message with text content.
func Text(role, content string) Message { return Message{Role: role, Content: &content} }

// ToolCall is a model's function call.
type ToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// ChatRequest is a chat-completion request.
type ChatRequest struct {
	Model         string          `json:"model,omitempty"`
	Messages      []Message       `json:"messages"`
	MaxTokens     *int            `json:"max_tokens,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	StreamOptions *StreamOptions  `json:"stream_options,omitempty"`
	Tools         json.RawMessage `json:"tools,omitempty"`
}

// StreamOptions asks for the usage chunk on /v1/chat/completions.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Usage counts tokens; CostUSD and Estimated are aiservice's additions.
type Usage struct {
	PromptTokens     int      `json:"prompt_tokens"`
	CompletionTokens int      `json:"completion_tokens"`
	TotalTokens      int      `json:"total_tokens"`
	CostUSD          *float64 `json:"cost_usd,omitempty"`
	Estimated        bool     `json:"estimated,omitempty"`
}

// ChatResponse is a chat.completion.
type ChatResponse struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int     `json:"index"`
		Message      Message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
}

// Chunk is a chat.completion.chunk.
type Chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      string     `json:"role,omitempty"`
			Content   string     `json:"content,omitempty"`
			ToolCalls []ToolCall `json:"tool_calls,omitempty"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage `json:"usage,omitempty"`
}

// ImageRequest is an images request.
type ImageRequest struct {
	Prompt         string `json:"prompt"`
	Model          string `json:"model,omitempty"`
	N              *int   `json:"n,omitempty"`
	Size           string `json:"size,omitempty"`
	Quality        string `json:"quality,omitempty"`
	ResponseFormat string `json:"response_format,omitempty"`
}

// ImageResponse is the images answer.
type ImageResponse struct {
	Created int64 `json:"created"`
	Data    []struct {
		B64JSON       string `json:"b64_json,omitempty"`
		URL           string `json:"url,omitempty"`
		RevisedPrompt string `json:"revised_prompt,omitempty"`
	} `json:"data"`
	Usage *struct {
		Images  int      `json:"images"`
		CostUSD *float64 `json:"cost_usd,omitempty"`
	} `json:"usage,omitempty"`
}

// Agent describes a configured agent.
type Agent struct {
	ID          string   `json:"id"`
	Object      string   `json:"object"`
	Description string   `json:"description"`
	Model       string   `json:"model"`
	Tools       []string `json:"tools"`
	MaxSteps    int      `json:"max_steps"`
}

// AgentList is GET /v1/agents.
type AgentList struct {
	Object string  `json:"object"`
	Data   []Agent `json:"data"`
}

// AgentRun is the result of POST /v1/agents/{id}/runs.
type AgentRun struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	AgentID string `json:"agent_id"`
	Model   string `json:"model"`
	Status  string `json:"status"`
	Output  string `json:"output"`
	Steps   []struct {
		Index     int    `json:"index"`
		Tool      string `json:"tool"`
		Arguments string `json:"arguments"`
		Result    string `json:"result"`
		Error     string `json:"error,omitempty"`
	} `json:"steps"`
	Usage   Usage `json:"usage"`
	Created int64 `json:"created"`
}

// ModelList is GET /v1/models.
type ModelList struct {
	Object string `json:"object"`
	Data   []struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	} `json:"data"`
}

// Status is the body of /healthz and /readyz.
type Status struct {
	Status string `json:"status"`
}

// ErrorBody is OpenAI's error envelope.
type ErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Code    *string `json:"code"`
		Param   *string `json:"param"`
	} `json:"error"`
}
