// Package provider defines what the gateway needs from an upstream model API and implements it
// for OpenAI-compatible HTTP APIs (OpenAI, Ollama, vLLM, the built-in simulator…).
package provider

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"aiservice/service/internal/wire"
)

// Provider is one upstream.
type Provider interface {
	// Name is the configured provider name (the `provider` metric label).
	Name() string
	// System is the gen_ai.provider.name of the upstream ("openai", "sim").
	System() string
	// ChatRaw returns the upstream's chat.completion body as bytes, unparsed: the gateway
	// scans (and so validates) what it needs and passes the rest through without a
	// decode/encode round trip.
	ChatRaw(ctx context.Context, req *wire.ChatRequest) ([]byte, error)
	// ChatStream opens a stream. It returns once the upstream answered with headers, so errors
	// before the first byte (status, connection) are returned here and can be retried.
	ChatStream(ctx context.Context, req *wire.ChatRequest) (Stream, error)
	Images(ctx context.Context, req *wire.ImageRequest) (*wire.ImageResponse, error)
	// URL is where an operation ("chat" or "images") is sent, as configured: the gateway puts
	// it on the attempt's span without credentials or query.
	URL(op string) string
}

// Stream yields chunks until io.EOF (the upstream's [DONE]). A stream that stops without
// [DONE] returns an error wrapping io.ErrUnexpectedEOF: a truncation is never a clean end.
type Stream interface {
	// NextRaw returns the JSON of the next chunk event — valid until the next call — without
	// decoding it; error events come back as *StatusError.
	NextRaw() ([]byte, error)
	// Next is NextRaw decoded.
	Next() (*wire.Chunk, error)
	// Ready reports whether the next event's bytes are already received (no wait for it).
	Ready() bool
	Close() error
	// LastRead is when bytes last arrived on the stream's connection (zero when unknown, e.g.
	// a shared HTTP/2 connection). Events can sit in the HTTP/1.1 chunked decoder while bytes
	// trickle in, so stream time limits use this to tell a slow link from a silent upstream.
	LastRead() time.Time
}

// StatusError is an upstream's HTTP error answer.
type StatusError struct {
	StatusCode int
	Detail     wire.ErrorDetail
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("upstream status %d: %s", e.StatusCode, e.Detail.Message)
}

// ConnError is a transport failure: the upstream could not be reached or dropped the connection.
type ConnError struct{ Err error }

func (e *ConnError) Error() string { return "upstream connection: " + e.Err.Error() }
func (e *ConnError) Unwrap() error { return e.Err }

// InvalidError is an upstream answer that is not what the dialect promises (not JSON, or not
// the expected object): the upstream sent garbage. It is not an HTTP status the upstream sent.
type InvalidError struct{ What string }

func (e *InvalidError) Error() string { return "upstream sent an invalid " + e.What }

// parseRetryAfter reads delta-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
