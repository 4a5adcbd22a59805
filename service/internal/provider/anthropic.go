package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"aiservice/service/internal/translate"
	"aiservice/service/internal/wire"
)

// Messenger is an upstream that serves Anthropic's Messages API: natively (Anthropic, the
// simulator's Anthropic dialect) or by translation (every OpenAI-compatible upstream). The
// gateway's /v1/messages goes through it.
type Messenger interface {
	// MessagesRaw returns a `message` object as bytes.
	MessagesRaw(ctx context.Context, req *wire.MessagesRequest) ([]byte, error)
	// MessagesStream opens a stream of Anthropic's events, up to message_stop; like
	// ChatStream it returns once the upstream answered with headers.
	MessagesStream(ctx context.Context, req *wire.MessagesRequest) (RawStream, error)
	// CountTokensRaw returns count_tokens' answer as bytes.
	CountTokensRaw(ctx context.Context, req *wire.MessagesRequest) ([]byte, error)
	// Native reports whether the upstream speaks the Messages dialect itself: its answers then
	// pass through as they are.
	Native() bool
}

// Anthropic talks to Anthropic's Messages API over HTTP, with the transport, bounds and error
// handling of the OpenAI client. It serves chat completions by translating them.
type Anthropic struct {
	http                  *OpenAI // the transport, its bounds and credentials
	messagesURL, countURL string
}

// AnthropicConfig configures an Anthropic client: the HTTP settings of any upstream (BaseURL is
// e.g. https://api.anthropic.com) and the anthropic-version sent when the client sent none.
type AnthropicConfig struct {
	OpenAIConfig
	Version string
}

// NewAnthropic builds the client. The key goes in x-api-key, as Anthropic wants it.
func NewAnthropic(cfg AnthropicConfig) *Anthropic {
	inner := NewOpenAI(cfg.OpenAIConfig)
	inner.header = http.Header{}
	if cfg.APIKey != "" {
		inner.header.Set("X-Api-Key", cfg.APIKey)
	}
	inner.header.Set("Anthropic-Version", cfg.Version)
	base := strings.TrimSuffix(strings.TrimRight(cfg.BaseURL, "/"), "/v1")
	return &Anthropic{http: inner, messagesURL: base + "/v1/messages", countURL: base + "/v1/messages/count_tokens"}
}

// Name implements Provider.
func (p *Anthropic) Name() string { return p.http.cfg.Name }

// System implements Provider.
func (p *Anthropic) System() string { return p.http.cfg.System }

// URL implements Provider: every operation goes to /v1/messages.
func (p *Anthropic) URL(string) string { return p.messagesURL }

// CloseIdle drops pooled connections (used at shutdown).
func (p *Anthropic) CloseIdle() { p.http.CloseIdle() }

// Native implements Messenger.
func (p *Anthropic) Native() bool { return true }

// headers are a request's own Anthropic headers: the client's version and betas.
func headers(req *wire.MessagesRequest) http.Header {
	h := http.Header{}
	if req.Version != "" {
		h.Set("Anthropic-Version", req.Version)
	}
	if req.Beta != "" {
		h.Set("Anthropic-Beta", req.Beta)
	}
	return h
}

// messagesPayload is the upstream body of a Messages request (patched).
func messagesPayload(req *wire.MessagesRequest, stream bool) (json.RawMessage, error) {
	return patched(req.Raw, req.Model, stream, func() ([]byte, error) {
		r := *req
		r.Stream = stream
		return json.Marshal(&r)
	})
}

// MessagesRaw implements Messenger: the answer is returned as received once its shape is
// checked.
func (p *Anthropic) MessagesRaw(ctx context.Context, req *wire.MessagesRequest) ([]byte, error) {
	return p.send(ctx, p.messagesURL, req, CheckMessage)
}

// MessagesStream implements Messenger.
func (p *Anthropic) MessagesStream(ctx context.Context, req *wire.MessagesRequest) (RawStream, error) {
	payload, err := messagesPayload(req, true)
	if err != nil {
		return nil, invalidRequest(err)
	}
	st, err := p.http.openStream(ctx, p.messagesURL, payload, headers(req), isMessageStop)
	if err != nil {
		return nil, err
	}
	st.errStatus = streamErrorStatus
	return st, nil
}

// streamErrorStatus is the status an Anthropic `error` event stands for: the one Anthropic
// answers the same error type with before a stream begins, so a stream that fails mid-way is
// classified as the same failure would be at its start (overloaded stays overloaded, a rate
// limit a rate limit, on either surface). Any other type is a 502: the upstream failed. Only
// the type is read; the event's message is the upstream's free text and never reaches a client.
func streamErrorStatus(data []byte) int {
	var ev struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	_ = json.Unmarshal(data, &ev)
	switch ev.Error.Type {
	case "overloaded_error":
		return 529
	case "rate_limit_error":
		return http.StatusTooManyRequests
	case "timeout_error":
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// CountTokensRaw implements Messenger.
func (p *Anthropic) CountTokensRaw(ctx context.Context, req *wire.MessagesRequest) ([]byte, error) {
	return p.send(ctx, p.countURL, req, func(b []byte) error {
		var out wire.CountTokensResponse
		if json.Unmarshal(b, &out) != nil || out.InputTokens < 0 || out.InputTokens > maxTokens {
			return invalid("count_tokens answer")
		}
		return nil
	})
}

// send posts a request (the client's JSON, model patched) to url with the client's Anthropic
// headers, and returns the answer once check accepts it.
func (p *Anthropic) send(ctx context.Context, url string, req *wire.MessagesRequest, check func([]byte) error) ([]byte, error) {
	payload, err := messagesPayload(req, false)
	if err != nil {
		return nil, invalidRequest(err)
	}
	b, err := p.http.postWith(ctx, url, payload, headers(req))
	if err != nil {
		return nil, err
	}
	if err := check(b); err != nil {
		return nil, err
	}
	return b, nil
}

// ChatRaw implements Provider by translating the chat request to Messages and the message
// back to a chat.completion. The translation is read like any upstream's answer
// (ReadCompletion), so every provider hands the gateway the same checked value.
func (p *Anthropic) ChatRaw(ctx context.Context, req *wire.ChatRequest) (Completion, error) {
	mreq, err := translate.MessagesFromChat(req, p.http.cfg.Translate)
	if err != nil {
		return Completion{}, err
	}
	b, err := p.MessagesRaw(ctx, mreq)
	if err != nil {
		return Completion{}, err
	}
	var m wire.MessagesResponse
	if err := json.Unmarshal(b, &m); err != nil {
		return Completion{}, invalid("message")
	}
	out, err := json.Marshal(translate.ChatFromMessage(&m, time.Now().Unix()))
	if err != nil {
		return Completion{}, invalid("message")
	}
	return ReadCompletion(out)
}

// ChatStream implements Provider: Anthropic's events become chat chunks as they arrive.
func (p *Anthropic) ChatStream(ctx context.Context, req *wire.ChatRequest) (Stream, error) {
	mreq, err := translate.MessagesFromChat(req, p.http.cfg.Translate)
	if err != nil {
		return nil, err
	}
	inner, err := p.MessagesStream(ctx, mreq)
	if err != nil {
		return nil, err
	}
	return &chunksFromEvents{inner: inner, t: translate.NewEventTranslator(time.Now().Unix())}, nil
}

// Images implements Provider: Anthropic generates no images (config refuses image models on
// an anthropic provider; this is for a request that reaches it anyway).
func (p *Anthropic) Images(context.Context, *wire.ImageRequest) (*wire.ImageResponse, error) {
	return nil, &StatusError{StatusCode: http.StatusBadRequest, Detail: wire.ErrorDetail{Type: "invalid_request_error",
		Message: "Anthropic upstreams do not generate images."}}
}

// isMessageStop tells Anthropic's final stream event.
func isMessageStop(_ string, data []byte) bool {
	f, err := wire.ObjectFields(data, "type")
	if err != nil || !f[0].Found() {
		return false
	}
	t, _ := wire.UnquoteString(data[f[0].Start:f[0].End])
	return t == "message_stop"
}

// CheckMessage reports (as an *InvalidError) a body that is not an Anthropic message: another
// type, content that is not an array, or an implausible usage.
func CheckMessage(b []byte) error {
	var m struct {
		Type    string          `json:"type"`
		Content json.RawMessage `json:"content"`
		Usage   *wire.AUsage    `json:"usage"`
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Type != "message" || len(m.Content) == 0 || m.Content[0] != '[' {
		return invalid("message")
	}
	if u := m.Usage; u != nil && !plausible(translate.UsageFromAnthropic(*u)) {
		return invalid("message: usage is not plausible")
	}
	return nil
}

// invalidRequest is a request the gateway could not re-encode: its body was checked already,
// so this is the client's JSON the scanner refused.
func invalidRequest(err error) error {
	return &StatusError{StatusCode: http.StatusBadRequest, Err: err, Detail: wire.ErrorDetail{Type: "invalid_request_error",
		Message: "The request could not be prepared for the upstream."}}
}
