package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"aiservice/service/internal/translate"
	"aiservice/service/internal/wire"
)

// ResponsesUpstream is an upstream that speaks OpenAI's Responses API itself (a provider with
// `api: responses`): the client's request reaches it as sent, with only `model` changed.
type ResponsesUpstream interface {
	// SpeaksResponses is false for a provider configured for chat completions only.
	SpeaksResponses() bool
	// ResponsesRaw returns the upstream's response object as bytes, its shape checked.
	ResponsesRaw(ctx context.Context, req *wire.ResponsesRequest) ([]byte, error)
	// ResponsesStream opens a Responses stream; NextRaw yields each typed event's JSON and
	// io.EOF after the terminal one (response.completed, .incomplete or .failed).
	ResponsesStream(ctx context.Context, req *wire.ResponsesRequest) (Stream, error)
}

// SpeaksResponses implements ResponsesUpstream.
func (p *OpenAI) SpeaksResponses() bool { return p.cfg.Responses }

func (p *OpenAI) responsesURL() string { return strings.TrimRight(p.cfg.BaseURL, "/") + "/responses" }

// ResponsesRaw implements ResponsesUpstream.
func (p *OpenAI) ResponsesRaw(ctx context.Context, req *wire.ResponsesRequest) ([]byte, error) {
	payload, err := responsesPayload(req, false)
	if err != nil {
		return nil, fmt.Errorf("encode upstream responses request: %w", err)
	}
	b, err := p.post(ctx, p.responsesURL(), payload)
	if err != nil {
		return nil, err
	}
	if err := CheckResponse(b); err != nil {
		return nil, err
	}
	return b, nil
}

// ResponsesStream implements ResponsesUpstream.
func (p *OpenAI) ResponsesStream(ctx context.Context, req *wire.ResponsesRequest) (Stream, error) {
	payload, err := responsesPayload(req, true)
	if err != nil {
		return nil, fmt.Errorf("encode upstream responses request: %w", err)
	}
	st, err := p.openStream(ctx, p.responsesURL(), payload, nil, terminalEvent)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// responsesPayload is the upstream body of a Responses request (patched).
func responsesPayload(req *wire.ResponsesRequest, stream bool) (json.RawMessage, error) {
	return patched(req.Raw, req.Model, stream, func() ([]byte, error) {
		r := *req
		r.Stream = stream
		return json.Marshal(&r)
	})
}

// CheckResponse reports (as an *InvalidError) a body that is valid JSON but not a response
// object: another object, no output array, or an implausible usage.
func CheckResponse(b []byte) error {
	f, err := wire.ObjectFields(b, "object", "output", "usage")
	if err != nil {
		return invalid("response")
	}
	if o := f[0]; o.Found() {
		if obj, _ := wire.UnquoteString(b[o.Start:o.End]); obj != "response" {
			return invalid("response: object is not response")
		}
	}
	if !f[1].Found() || b[f[1].Start] != '[' {
		return invalid("response: no output")
	}
	if u := f[2]; u.Found() && string(b[u.Start:u.End]) != "null" {
		usage, ok := ParseResponseUsage(b[u.Start:u.End])
		if !ok || !plausible(usage) {
			return invalid("response: usage is not plausible")
		}
	}
	return nil
}

// ParseResponseUsage reads a Responses usage object in chat's terms.
func ParseResponseUsage(b []byte) (*wire.Usage, bool) {
	var u wire.ResponseUsage
	if json.Unmarshal(b, &u) != nil {
		return nil, false
	}
	return translate.ChatUsage(&u), true
}

// terminalEvent is a Responses stream's last event.
func terminalEvent(name string, _ []byte) bool { return wire.TerminalResponseEvent(name) }

// patched is the upstream body of a request in the upstream's own dialect: the client's JSON
// with only the model (and stream, when set) patched, so fields the gateway does not know pass
// through; a request the gateway built itself (raw nil) is encoded.
func patched(raw json.RawMessage, model string, stream bool, encode func() ([]byte, error)) (json.RawMessage, error) {
	if raw == nil {
		return encode()
	}
	m, err := json.Marshal(model)
	if err != nil {
		return nil, err
	}
	fields := []wire.Field{{Key: "model", Value: m}}
	if stream {
		fields = append(fields, wire.Field{Key: "stream", Value: []byte("true")})
	}
	return wire.SetFields(raw, fields...)
}
