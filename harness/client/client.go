// Package client is a typed Go client for the aiservice API — the consumer side of the Pact
// contract, and what the BDD, chaos and end-to-end suites drive the real binary with.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client talks to one aiservice.
type Client struct {
	BaseURL string
	APIKey  string
	HTTP    *http.Client
	// Header is added to every request (e.g. traceparent, X-Request-Id).
	Header http.Header
}

// New builds a client for a base URL such as http://127.0.0.1:8080.
func New(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{}, Header: http.Header{}}
}

// Response is the HTTP part of an answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// APIError is a non-2xx answer with OpenAI's error body.
type APIError struct {
	Response
	Body ErrorBody
}

func (e *APIError) Error() string {
	return fmt.Sprintf("status %d: %s: %s", e.Status, e.Body.Error.Type, e.Body.Error.Message)
}

// Do sends a request with a raw body (nil for none) and returns the raw answer, whatever its
// status. The BDD and hostile-input suites use it for malformed requests.
func (c *Client) Do(ctx context.Context, method, path, contentType string, body []byte) (*Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	c.decorate(req)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

func (c *Client) decorate(req *http.Request) {
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
}

// call sends JSON and decodes a 2xx JSON answer into out; other statuses become *APIError.
func (c *Client) call(ctx context.Context, method, path string, in, out any) (*Response, error) {
	var body []byte
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body, ct = b, "application/json"
	}
	resp, err := c.Do(ctx, method, path, ct, body)
	if err != nil {
		return nil, err
	}
	if resp.Status/100 != 2 {
		ae := &APIError{Response: *resp}
		_ = json.Unmarshal(resp.Body, &ae.Body)
		return resp, ae
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return resp, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp, nil
}

// Chat calls POST /v1/chat.
func (c *Client) Chat(ctx context.Context, req ChatRequest) (*ChatResponse, *Response, error) {
	var out ChatResponse
	resp, err := c.call(ctx, http.MethodPost, "/v1/chat", req, &out)
	return &out, resp, err
}

// ChatCompletions calls POST /v1/chat/completions without streaming.
func (c *Client) ChatCompletions(ctx context.Context, req ChatRequest) (*ChatResponse, *Response, error) {
	var out ChatResponse
	resp, err := c.call(ctx, http.MethodPost, "/v1/chat/completions", req, &out)
	return &out, resp, err
}

// Images calls POST /v1/images.
func (c *Client) Images(ctx context.Context, req ImageRequest) (*ImageResponse, *Response, error) {
	var out ImageResponse
	resp, err := c.call(ctx, http.MethodPost, "/v1/images", req, &out)
	return &out, resp, err
}

// Agents calls GET /v1/agents.
func (c *Client) Agents(ctx context.Context) (*AgentList, *Response, error) {
	var out AgentList
	resp, err := c.call(ctx, http.MethodGet, "/v1/agents", nil, &out)
	return &out, resp, err
}

// Agent calls GET /v1/agents/{id}.
func (c *Client) Agent(ctx context.Context, id string) (*Agent, *Response, error) {
	var out Agent
	resp, err := c.call(ctx, http.MethodGet, "/v1/agents/"+id, nil, &out)
	return &out, resp, err
}

// RunAgent calls POST /v1/agents/{id}/runs.
func (c *Client) RunAgent(ctx context.Context, id, input string) (*AgentRun, *Response, error) {
	var out AgentRun
	resp, err := c.call(ctx, http.MethodPost, "/v1/agents/"+id+"/runs", map[string]string{"input": input}, &out)
	return &out, resp, err
}

// Models calls GET /v1/models.
func (c *Client) Models(ctx context.Context) (*ModelList, *Response, error) {
	var out ModelList
	resp, err := c.call(ctx, http.MethodGet, "/v1/models", nil, &out)
	return &out, resp, err
}

// Health calls GET /healthz.
func (c *Client) Health(ctx context.Context) (*Status, *Response, error) {
	var out Status
	resp, err := c.call(ctx, http.MethodGet, "/healthz", nil, &out)
	return &out, resp, err
}

// Ready calls GET /readyz (a 503 while draining is an *APIError whose Response holds the body).
func (c *Client) Ready(ctx context.Context) (*Status, *Response, error) {
	var out Status
	resp, err := c.call(ctx, http.MethodGet, "/readyz", nil, &out)
	return &out, resp, err
}

// Metrics returns the Prometheus text exposition of GET /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.Do(ctx, http.MethodGet, "/metrics", "", nil)
	if err != nil {
		return "", err
	}
	if resp.Status != http.StatusOK {
		return "", fmt.Errorf("metrics: status %d", resp.Status)
	}
	return string(resp.Body), nil
}

// Event is one SSE event of a chat stream.
type Event struct {
	Name  string     // "" for data events, "error" for the error event
	Data  []byte     // raw data
	Chunk *Chunk     // decoded data event
	Error *ErrorBody // decoded error event
	Done  bool       // the [DONE] sentinel
}

// Stream reads a chat stream.
type Stream struct {
	Response *http.Response
	r        *bufio.Reader
	body     io.ReadCloser
}

// ChatStream calls POST /v1/chat/stream. A non-2xx answer is an *APIError.
func (c *Client) ChatStream(ctx context.Context, req ChatRequest) (*Stream, error) {
	return c.OpenStream(ctx, "/v1/chat/stream", req)
}

// OpenStream posts a streaming request to a path (/v1/chat/stream or /v1/chat/completions).
func (c *Client) OpenStream(ctx context.Context, path string, req ChatRequest) (*Stream, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	c.decorate(hreq)
	resp, err := c.HTTP.Do(hreq)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		ae := &APIError{Response: Response{Status: resp.StatusCode, Header: resp.Header, Body: body}}
		_ = json.Unmarshal(body, &ae.Body)
		return nil, ae
	}
	return &Stream{Response: resp, r: bufio.NewReader(resp.Body), body: resp.Body}, nil
}

// Next returns the next event; io.EOF when the connection ends.
func (s *Stream) Next() (*Event, error) {
	ev := &Event{}
	var data []byte
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if data == nil {
				continue
			}
			ev.Data = data
			switch {
			case string(data) == "[DONE]":
				ev.Done = true
			case ev.Name == "error":
				ev.Error = &ErrorBody{}
				if err := json.Unmarshal(data, ev.Error); err != nil {
					return nil, fmt.Errorf("decode error event: %w", err)
				}
			default:
				ev.Chunk = &Chunk{}
				if err := json.Unmarshal(data, ev.Chunk); err != nil {
					return nil, fmt.Errorf("decode chunk: %w", err)
				}
			}
			return ev, nil
		case strings.HasPrefix(line, "event:"):
			ev.Name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")...)
		}
	}
}

// Collect reads the whole stream: its events until [DONE], an error event, or EOF.
func (s *Stream) Collect() ([]*Event, error) {
	defer s.Close()
	var evs []*Event
	for {
		ev, err := s.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return evs, nil
			}
			return evs, err
		}
		evs = append(evs, ev)
		if ev.Done || ev.Error != nil {
			return evs, nil
		}
	}
}

// Close closes the connection.
func (s *Stream) Close() error { return s.body.Close() }

// StreamText joins the content deltas of chunk events.
func StreamText(evs []*Event) string {
	var sb strings.Builder
	for _, e := range evs {
		if e.Chunk != nil {
			for _, ch := range e.Chunk.Choices {
				sb.WriteString(ch.Delta.Content)
			}
		}
	}
	return sb.String()
}
