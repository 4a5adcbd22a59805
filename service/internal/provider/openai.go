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
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"golang.org/x/sync/semaphore"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/sse"
	"aiservice/service/internal/translate"
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
	// MaxResponseBytes bounds one non-streaming answer; 0 is DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Buffers, when set, bounds the bytes that every answer being read holds together. One
	// semaphore is shared by all the providers of a process: the bound is on the process.
	Buffers *semaphore.Weighted
	// MaxRetryAfter clamps the upstream's Retry-After; 0 is DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// Translate says what to do with what cannot be translated to this provider's dialect.
	Translate translate.Options
	// Responses: the upstream speaks the Responses API (provider `api: responses`).
	Responses bool
}

// Defaults of the bounds, for an OpenAIConfig that leaves them zero.
const (
	// DefaultMaxResponseBytes fits the largest legitimate answer the gateway asks for: four
	// 1024x1024 images as b64_json. A worst-case (incompressible RGBA) 1024x1024 PNG is 4 MiB,
	// 5.3 MiB in base64, so four are 21.3 MiB; 32 MiB leaves room for the JSON around them and
	// for revised prompts. A chat completion is rarely above a few hundred KiB.
	DefaultMaxResponseBytes = 32 << 20
	// DefaultMaxRetryAfter is the longest Retry-After the gateway honours or passes on.
	DefaultMaxRetryAfter = 60 * time.Second
)

// OpenAI talks to an OpenAI-compatible API over HTTP.
type OpenAI struct {
	cfg       OpenAIConfig
	client    *http.Client
	chatURL   string
	imagesURL string
	header    http.Header    // sent with every request: the credentials
	secret    *regexp.Regexp // the API key, matched case-insensitively and across whitespace
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
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		// A redirect would carry the API key to wherever the upstream points (net/http keeps
		// it for the same host on another port): the 3xx itself is the answer (see do).
		return http.ErrUseLastResponse
	}}
	p := &OpenAI{cfg: cfg, client: client, chatURL: base + "/chat/completions", imagesURL: base + "/images/generations", header: http.Header{}}
	if cfg.APIKey != "" {
		p.header.Set("Authorization", "Bearer "+cfg.APIKey)
		p.secret = secretPattern(cfg.APIKey)
	}
	return p
}

// secretPattern matches a secret however an upstream echoes it: in any case, and with
// whitespace between its characters.
func secretPattern(secret string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?i)")
	for i, r := range secret {
		if i > 0 {
			b.WriteString(`\s*`)
		}
		b.WriteString(regexp.QuoteMeta(string(r)))
	}
	return regexp.MustCompile(b.String())
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

// do sends a JSON request and returns the response when its status is 2xx. extra are headers
// of this request only (nil for none).
func (p *OpenAI) do(ctx context.Context, url string, body any, stream bool, extra http.Header) (*http.Response, error) {
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
	for _, h := range []http.Header{p.header, extra} {
		for k, v := range h {
			req.Header[k] = v
		}
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
	if resp.StatusCode/100 == 3 {
		resp.Body.Close()
		return nil, refused(ErrRedirect, http.StatusBadGateway, fmt.Sprintf("the upstream answered %d (a redirect); redirects are not followed", resp.StatusCode))
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, p.statusError(resp)
	}
	return resp, nil
}

// refused is an answer the provider will not pass on: final, with our own message.
func refused(reason error, status int, msg string) *StatusError {
	return &StatusError{StatusCode: status, Err: reason, Detail: wire.ErrorDetail{Message: msg, Type: "upstream_error"}}
}

// statusError reads an upstream error answer (its first 64 KiB).
func (p *OpenAI) statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	what := fmt.Sprintf("the upstream answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	se := upstreamError(p.secret, resp.StatusCode, b, what)
	se.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now(), p.cfg.MaxRetryAfter)
	return se
}

// token is what an upstream's error type, code or param may be to be passed on: an identifier.
var token = regexp.MustCompile(`^[A-Za-z0-9_.\[\]-]{1,64}$`)

// upstreamError maps an upstream error body to our own message, what. The upstream's message
// is never passed on: it is free text that may echo the key, the prompt or internals. Its
// type, code and param are kept when they are identifiers that do not match secret: clients
// and SDKs branch on them (context_length_exceeded, rate_limit_error…).
func upstreamError(secret *regexp.Regexp, status int, body []byte, what string) *StatusError {
	var eb wire.ErrorBody
	_ = json.Unmarshal(body, &eb)
	harmless := func(s string) string {
		if !token.MatchString(s) || secret != nil && secret.MatchString(s) {
			return ""
		}
		return s
	}
	d := wire.ErrorDetail{Type: harmless(eb.Error.Type)}
	if d.Type == "" {
		d.Type = "upstream_error"
	}
	var extra []string
	for _, f := range []struct {
		name string
		in   *string
		out  **string
	}{{"code", eb.Error.Code, &d.Code}, {"param", eb.Error.Param, &d.Param}} {
		if f.in == nil {
			continue
		}
		if v := harmless(*f.in); v != "" {
			*f.out = &v
			extra = append(extra, f.name+" "+v)
		}
	}
	d.Message = what
	if len(extra) > 0 {
		d.Message += " (" + strings.Join(extra, ", ") + ")"
	}
	return &StatusError{StatusCode: status, Detail: d}
}

// streamErrorWhat is our message for an error event inside an upstream stream.
const streamErrorWhat = "the upstream's stream reported an error"

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
	c, err := p.ChatRaw(ctx, req)
	if err != nil {
		return nil, err
	}
	var out wire.ChatResponse
	if err := json.Unmarshal(c.Body, &out); err != nil {
		return nil, invalid("chat completion")
	}
	return &out, nil
}

// ChatRaw implements Provider. The body is returned as received, with what ReadCompletion's
// check found in it.
func (p *OpenAI) ChatRaw(ctx context.Context, req *wire.ChatRequest) (Completion, error) {
	b, err := p.post(ctx, p.chatURL, req)
	if err != nil {
		return Completion{}, err
	}
	return ReadCompletion(b)
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
	if err := checkImages(&out); err != nil {
		return nil, err
	}
	return &out, nil
}

// invalid is an answer that is not what the dialect promises: not retried on this upstream
// (the gateway's classifier), a 502.
func invalid(what string) error { return &InvalidError{What: what} }

// post sends a JSON request and reads the whole 2xx answer, within MaxResponseBytes and the
// shared Buffers.
func (p *OpenAI) post(ctx context.Context, url string, in any) ([]byte, error) {
	return p.postWith(ctx, url, in, nil)
}

// postWith is post with headers of this request.
func (p *OpenAI) postWith(ctx context.Context, url string, in any, extra http.Header) ([]byte, error) {
	resp, err := p.do(ctx, url, in, false, extra)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	limit := p.cfg.MaxResponseBytes
	if resp.ContentLength > limit {
		// Refused before reading: a huge announced length is not worth a byte of it.
		return nil, p.tooLarge()
	}
	return readBounded(ctx, resp.Body, resp.ContentLength, limit, p.cfg.Buffers, p.tooLarge)
}

func (p *OpenAI) tooLarge() error {
	return refused(ErrResponseTooLarge, http.StatusBadGateway,
		fmt.Sprintf("the upstream's answer is larger than upstream.max_response_bytes (%d)", p.cfg.MaxResponseBytes))
}

// grain is the step in which a body of unknown length reserves shared buffer space.
const grain = 64 << 10

// readBounded reads r whole: at most limit bytes (tooLarge past that), each reserved in buffers
// (when set) before it is read, so concurrent answers cannot hold more memory together than
// the semaphore's size. A reservation that cannot be had at once fails (ErrBuffersFull)
// rather than waiting: readers holding part of an answer while waiting for more could
// otherwise wait on each other until their deadlines. The reservation ends when the read does.
func readBounded(ctx context.Context, r io.Reader, length, limit int64, buffers *semaphore.Weighted, tooLarge func() error) ([]byte, error) {
	var held int64
	if buffers != nil {
		defer func() { buffers.Release(held) }()
	}
	reserve := func(n int64) error {
		if buffers == nil {
			return nil
		}
		if !buffers.TryAcquire(n) {
			// The gateway's own overload, like its in-flight limit: says nothing of the upstream.
			return &apperr.Error{Kind: apperr.RateLimit, Code: "overloaded", RetryAfter: time.Second, Cause: ErrBuffersFull,
				Message: "The gateway is holding as many upstream answers as upstream.max_buffered_bytes allows; retry shortly."}
		}
		held += n
		return nil
	}
	size := int64(4 << 10)
	if length > 0 {
		size = length + 1 // +1: the read that sees EOF needs room
	}
	if err := reserve(size); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return nil, tooLarge()
			}
			grow := min(max(int64(cap(buf)), grain), limit+1-int64(cap(buf)))
			if err := reserve(grow); err != nil {
				return nil, err
			}
			buf = append(buf, make([]byte, grow)...)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, tooLarge()
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, readErr(ctx, err)
		}
	}
}

// maxTokens is far above any context window: a count beyond it is not a real usage.
const maxTokens = 100_000_000

// plausible: every count between 0 and maxTokens.
func plausible(u *wire.Usage) bool {
	counts := [4]int{u.PromptTokens, u.CompletionTokens, u.TotalTokens} // an array: no allocation per answer
	if u.PromptTokensDetails != nil {
		counts[3] = u.PromptTokensDetails.CachedTokens
	}
	for _, n := range counts {
		if n < 0 || n > maxTokens {
			return false
		}
	}
	return true
}

// checkImages reports (as an *InvalidError) an images answer without images, or with an image
// that has neither data nor a URL.
func checkImages(r *wire.ImageResponse) error {
	if len(r.Data) == 0 {
		return invalid("images response: no images")
	}
	for _, d := range r.Data {
		if d.B64JSON == "" && d.URL == "" {
			return invalid("images response: an image without b64_json or url")
		}
	}
	return nil
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
	return p.openStream(ctx, p.chatURL, req, nil, nil)
}

// openStream sends a streaming request and returns its events once the upstream answered
// with headers. last, when set, tells the dialect's final event (the stream then ends after
// it); otherwise the stream ends at [DONE].
func (p *OpenAI) openStream(ctx context.Context, url string, in any, extra http.Header, last func(name string, data []byte) bool) (*sseStream, error) {
	st := &sseStream{ctx: ctx, secret: p.secret, last: last}
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if ac, ok := info.Conn.(*activityConn); ok {
			st.conn = ac
		}
	}}
	resp, err := p.do(httptrace.WithClientTrace(ctx, trace), url, in, true, extra)
	if err != nil {
		return nil, err
	}
	st.body, st.r = resp.Body, sse.NewReader(resp.Body)
	st.clock.Store(st.r)
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
	ctx    context.Context
	body   io.ReadCloser
	r      *sse.Reader
	secret *regexp.Regexp // the API key, kept out of error events; nil when there is none
	conn   *activityConn  // nil when unknown (e.g. a shared HTTP/2 connection)
	done   bool
	last   func(name string, data []byte) bool // the dialect's final event, when it has one instead of [DONE]
	// errStatus is the HTTP status an error event stands for, when the dialect's events say
	// (Anthropic's error types); nil: 502, the upstream failed.
	errStatus func(data []byte) int
	// clock is r for LastRead, which a stream's timer calls from its own goroutine, also
	// while Close runs; nil once closed.
	clock atomic.Pointer[sse.Reader]
}

// LastRead is when bytes of a data line last arrived: comments and other fields do not count,
// so an upstream that only sends keep-alives still meets the first-token and idle limits.
// Bytes on the connection that the HTTP/1.1 chunked decoder still holds (a slow link delivering
// a large chunk) count too, but only while what was last delivered was data: before the first
// data line, or after a comment, they may be more comments.
func (s *sseStream) LastRead() time.Time {
	r := s.clock.Load()
	if r == nil {
		return time.Time{}
	}
	last := r.LastData()
	if s.conn != nil && r.AfterData() {
		if c := time.Unix(0, s.conn.last.Load()); c.After(last) {
			last = c
		}
	}
	return last
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
		if errors.Is(err, sse.ErrEventTooLarge) {
			return nil, refused(ErrResponseTooLarge, http.StatusBadGateway,
				fmt.Sprintf("the upstream sent a stream line or event larger than %d bytes", sse.MaxEventBytes))
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the stream ended without [DONE]
		}
		return nil, readErr(s.ctx, fmt.Errorf("stream truncated: %w", err))
	}
	if bytes.Equal(ev.Data, sse.Done) {
		s.done = true
		return nil, io.EOF
	}
	if isErrorEvent(ev.Name, ev.Data) {
		status := http.StatusBadGateway
		if s.errStatus != nil {
			status = s.errStatus(ev.Data)
		}
		return nil, upstreamError(s.secret, status, ev.Data, streamErrorWhat)
	}
	s.done = s.last != nil && s.last(ev.Name, ev.Data)
	return ev.Data, nil
}

func isErrorEvent(name string, data []byte) bool {
	return name == "error" || bytes.HasPrefix(data, []byte(`{"error"`))
}

// DecodeChunk parses one upstream stream event: a chunk, or an error event/object.
func DecodeChunk(name string, data []byte) (*wire.Chunk, error) {
	if isErrorEvent(name, data) {
		return nil, upstreamError(nil, http.StatusBadGateway, data, streamErrorWhat)
	}
	var c wire.Chunk
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, invalid("stream chunk")
	}
	return &c, nil
}

func (s *sseStream) Close() error {
	s.clock.Store(nil)
	if s.r != nil {
		s.r.Release()
		s.r = nil
	}
	return s.body.Close()
}
