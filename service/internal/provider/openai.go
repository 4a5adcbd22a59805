package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"aiservice/service/internal/sse"
	"aiservice/service/internal/wire"
)

// OpenAIConfig configures an OpenAI-compatible client.
type OpenAIConfig struct {
	Name                  string // configured provider name
	System                string // gen_ai.provider.name
	BaseURL               string // e.g. https://api.openai.com/v1
	APIKey                string
	ConnectTimeout        time.Duration
	ResponseHeaderTimeout time.Duration
	MaxIdleConnsPerHost   int
	IdleConnTimeout       time.Duration
	// Propagator injects trace context into upstream requests; nil injects nothing.
	Propagator propagation.TextMapPropagator
}

// OpenAI talks to an OpenAI-compatible API over HTTP.
type OpenAI struct {
	cfg       OpenAIConfig
	client    *http.Client
	chatURL   string
	imagesURL string
	auth      string
}

// NewOpenAI builds the client with a transport tuned for a gateway: many idle connections per
// host (one upstream serves every request), bounded connect and header waits so a silent
// upstream cannot eat a request's whole deadline before a retry or fallback.
func NewOpenAI(cfg OpenAIConfig) *OpenAI {
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &activityConn{Conn: c}, nil
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          cfg.MaxIdleConnsPerHost * 4,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		// Bodies are JSON or SSE; compression would only add latency on the hot path.
		DisableCompression: true,
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	p := &OpenAI{cfg: cfg, client: &http.Client{Transport: tr}, chatURL: base + "/chat/completions", imagesURL: base + "/images/generations"}
	if cfg.APIKey != "" {
		p.auth = "Bearer " + cfg.APIKey
	}
	return p
}

// Name implements Provider.
func (p *OpenAI) Name() string { return p.cfg.Name }

// System implements Provider.
func (p *OpenAI) System() string { return p.cfg.System }

// URL implements Provider.
func (p *OpenAI) URL(op string) string {
	if op == "images" {
		return p.imagesURL
	}
	return p.chatURL
}

// CloseIdle drops pooled connections (used at shutdown).
func (p *OpenAI) CloseIdle() { p.client.CloseIdleConnections() }

// do sends a JSON request and returns the response when its status is 2xx.
func (p *OpenAI) do(ctx context.Context, url string, body any, stream bool) (*http.Response, error) {
	// The body is not pooled: the transport may still be writing it when the answer arrives.
	var payload []byte
	var err error
	if cr, ok := body.(*wire.ChatRequest); ok {
		payload, err = chatPayload(cr, stream)
	} else {
		payload, err = json.Marshal(body)
	}
	if err != nil {
		return nil, fmt.Errorf("encode upstream request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if p.auth != "" {
		req.Header.Set("Authorization", p.auth)
	}
	if p.cfg.Propagator != nil {
		p.cfg.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("upstream request: %w", context.Cause(ctx))
		}
		return nil, &ConnError{Err: err}
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, p.scrub(statusError(resp))
	}
	return resp, nil
}

// scrub removes the provider's key from an upstream error message: an upstream that echoes
// the key it was sent must not leak it to clients, logs or spans.
func (p *OpenAI) scrub(err error) error {
	var se *StatusError
	if p.cfg.APIKey != "" && errors.As(err, &se) && strings.Contains(se.Detail.Message, p.cfg.APIKey) {
		se.Detail.Message = strings.ReplaceAll(se.Detail.Message, p.cfg.APIKey, "[redacted]")
	}
	return err
}

func statusError(resp *http.Response) error {
	se := &StatusError{StatusCode: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body wire.ErrorBody
	if json.Unmarshal(b, &body) == nil && body.Error.Message != "" {
		se.Detail = body.Error
	} else {
		se.Detail = wire.ErrorDetail{Message: http.StatusText(resp.StatusCode), Type: "upstream_error"}
	}
	return se
}

// readErr classifies a failure while reading a body: the context's cause when it ended,
// otherwise a connection failure.
func readErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("upstream read: %w", context.Cause(ctx))
	}
	return &ConnError{Err: err}
}

// Chat is ChatRaw decoded.
func (p *OpenAI) Chat(ctx context.Context, req *wire.ChatRequest) (*wire.ChatResponse, error) {
	b, err := p.ChatRaw(ctx, req)
	if err != nil {
		return nil, err
	}
	var out wire.ChatResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, invalid("chat completion")
	}
	return &out, nil
}

// ChatRaw implements Provider. The body is returned as received: the gateway's scan of it
// (wire.ObjectFields) is also its validation, so it is not parsed twice.
func (p *OpenAI) ChatRaw(ctx context.Context, req *wire.ChatRequest) ([]byte, error) {
	return p.post(ctx, p.chatURL, req)
}

// Images implements Provider.
func (p *OpenAI) Images(ctx context.Context, req *wire.ImageRequest) (*wire.ImageResponse, error) {
	b, err := p.post(ctx, p.imagesURL, req)
	if err != nil {
		return nil, err
	}
	var out wire.ImageResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, invalid("images response")
	}
	return &out, nil
}

func invalid(what string) error { return &InvalidError{What: what} }

// post sends a JSON request and reads the whole 2xx answer, sized by its Content-Length.
func (p *OpenAI) post(ctx context.Context, url string, in any) ([]byte, error) {
	resp, err := p.do(ctx, url, in, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	size := 4 << 10
	if resp.ContentLength > 0 && resp.ContentLength < 64<<20 {
		size = int(resp.ContentLength)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, readErr(ctx, err)
	}
	return buf.Bytes(), nil
}

// chatPayload is the upstream body of a chat request. A client's request is forwarded as the
// client wrote it — fields the gateway does not know included — with only the model and, for
// a stream, the stream options changed: the gateway always asks for the usage chunk, since
// cost depends on it. Requests the gateway built itself (agents) are encoded.
func chatPayload(req *wire.ChatRequest, stream bool) ([]byte, error) {
	if req.Raw == nil {
		if !stream {
			return json.Marshal(req)
		}
		r := *req
		r.Stream = true
		r.StreamOptions = &wire.StreamOptions{IncludeUsage: true}
		return json.Marshal(&r)
	}
	model, err := json.Marshal(req.Model)
	if err != nil {
		return nil, err
	}
	if !stream {
		return wire.SetFields(req.Raw, wire.Field{Key: "model", Value: model})
	}
	opts := includeUsage
	if req.StreamOptions != nil { // an object: keep whatever else the client asked of the stream
		f, err := wire.ObjectFields(req.Raw, "stream_options")
		if err != nil {
			return nil, err
		}
		if opts, err = wire.SetFields(req.Raw[f[0].Start:f[0].End], wire.Field{Key: "include_usage", Value: []byte("true")}); err != nil {
			return nil, err
		}
	}
	return wire.SetFields(req.Raw, wire.Field{Key: "model", Value: model},
		wire.Field{Key: "stream", Value: []byte("true")}, wire.Field{Key: "stream_options", Value: opts})
}

var includeUsage = []byte(`{"include_usage":true}`)

var errStreamClosed = errors.New("read from a closed stream")

// ChatStream implements Provider. It asks the upstream to include usage in the stream.
func (p *OpenAI) ChatStream(ctx context.Context, req *wire.ChatRequest) (Stream, error) {
	st := &sseStream{ctx: ctx, scrub: p.scrub}
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if ac, ok := info.Conn.(*activityConn); ok {
			st.conn = ac
		}
	}}
	resp, err := p.do(httptrace.WithClientTrace(ctx, trace), p.chatURL, req, true)
	if err != nil {
		return nil, err
	}
	st.body, st.r = resp.Body, sse.NewReader(resp.Body)
	return st, nil
}

// activityConn records when bytes last arrived on an upstream connection.
type activityConn struct {
	net.Conn
	last atomic.Int64 // unix nanoseconds
}

func (c *activityConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.last.Store(time.Now().UnixNano())
	}
	return n, err
}

type sseStream struct {
	ctx   context.Context
	body  io.ReadCloser
	r     *sse.Reader
	conn  *activityConn
	scrub func(error) error
	done  bool
}

func (s *sseStream) LastRead() time.Time {
	if s.conn == nil {
		return time.Time{}
	}
	return time.Unix(0, s.conn.last.Load())
}

func (s *sseStream) Next() (*wire.Chunk, error) {
	b, err := s.NextRaw()
	if err != nil {
		return nil, err
	}
	return DecodeChunk("", b)
}

func (s *sseStream) Ready() bool { return s.r != nil && s.r.Buffered() }

func (s *sseStream) NextRaw() ([]byte, error) {
	if s.done {
		return nil, io.EOF
	}
	if s.r == nil {
		return nil, errStreamClosed
	}
	ev, err := s.r.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the stream ended without [DONE]
		}
		return nil, readErr(s.ctx, fmt.Errorf("stream truncated: %w", err))
	}
	if bytes.Equal(ev.Data, sse.Done) {
		s.done = true
		return nil, io.EOF
	}
	if ev.Name == "error" || bytes.HasPrefix(ev.Data, []byte(`{"error"`)) {
		_, err := DecodeChunk(ev.Name, ev.Data)
		if s.scrub != nil {
			err = s.scrub(err)
		}
		return nil, err
	}
	return ev.Data, nil
}

// DecodeChunk parses one upstream stream event: a chunk, or an error event/object.
func DecodeChunk(name string, data []byte) (*wire.Chunk, error) {
	if name == "error" || bytes.HasPrefix(data, []byte(`{"error"`)) {
		var body wire.ErrorBody
		_ = json.Unmarshal(data, &body)
		if body.Error.Message == "" {
			body.Error.Message = "upstream stream error"
		}
		return nil, &StatusError{StatusCode: http.StatusBadGateway, Detail: body.Error}
	}
	var c wire.Chunk
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, invalid("stream chunk")
	}
	return &c, nil
}

func (s *sseStream) Close() error {
	if s.r != nil {
		s.r.Release()
		s.r = nil
	}
	return s.body.Close()
}
