// Package provider defines what the gateway needs from an upstream model API and implements it
// for OpenAI-compatible HTTP APIs (OpenAI, Ollama, vLLM, the built-in simulator…).
package provider

import (
	"context"
	"errors"
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
	// ChatRaw returns the upstream's chat.completion body as bytes, not decoded, checked by
	// ReadCompletion: the gateway patches the spans it found and passes the rest through
	// without a decode/encode round trip or a second scan.
	ChatRaw(ctx context.Context, req *wire.ChatRequest) (Completion, error)
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
	RawStream
	// Next is NextRaw decoded.
	Next() (*wire.Chunk, error)
}

// RawStream yields the events of a stream in its dialect — chat chunks, or Anthropic's
// events up to message_stop — until io.EOF.
type RawStream interface {
	// NextRaw returns the JSON of the next event — valid until the next call — without
	// decoding it; error events come back as *StatusError.
	NextRaw() ([]byte, error)
	// Ready reports whether the next event's bytes are already received (no wait for it).
	Ready() bool
	Close() error
	// LastRead is when bytes of a data line last arrived (zero before any): the stream time
	// limits use it to tell a slow link from a silent upstream. Comments (keep-alives) do not
	// count. Events can sit in the HTTP/1.1 chunked decoder while bytes trickle in, so bytes on
	// the connection count too while the last line delivered was data.
	LastRead() time.Time
}

// StatusError is an upstream's HTTP error answer, or an answer the provider refused (Err set).
type StatusError struct {
	StatusCode int
	Detail     wire.ErrorDetail
	RetryAfter time.Duration
	// Err, when set, says the provider itself refused the answer (ErrResponseTooLarge,
	// ErrRedirect): such a failure is final, neither retried nor sent to a fallback.
	Err error
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("upstream status %d: %s", e.StatusCode, e.Detail.Message)
}

// Unwrap exposes the reason the provider refused the answer, if it did.
func (e *StatusError) Unwrap() error { return e.Err }

// Reasons for refusing an upstream answer; test with errors.Is.
var (
	// ErrResponseTooLarge: the answer (or one stream event) is larger than its bound, a 502.
	// Reading it again would cost the same memory again, so it is final.
	ErrResponseTooLarge = errors.New("upstream response too large")
	// ErrRedirect: the upstream answered 3xx, a 502. Redirects are not followed, so the API key
	// never goes to another address.
	ErrRedirect = errors.New("upstream redirected")
	// ErrBuffersFull: the answers being received already hold all the memory they may share.
	// It comes as the gateway's own overload answer (429 overloaded), as its in-flight limit does.
	ErrBuffersFull = errors.New("upstream answer buffers full")
)

// ConnError is a transport failure: the upstream could not be reached or dropped the connection.
type ConnError struct{ Err error }

func (e *ConnError) Error() string { return "upstream connection: " + e.Err.Error() }
func (e *ConnError) Unwrap() error { return e.Err }

// InvalidError is an upstream answer that is not what the dialect promises (not JSON, or not
// the expected object): the upstream sent garbage. It is not an HTTP status the upstream sent.
type InvalidError struct{ What string }

func (e *InvalidError) Error() string { return "upstream sent an invalid " + e.What }

// maxRetryAfterSecs keeps the conversion to a Duration from overflowing (about 272 years).
const maxRetryAfterSecs = 1 << 33

// parseRetryAfter reads delta-seconds or an HTTP date, clamped to limit (when positive): an
// upstream must not park the gateway's retries, or tell its clients to go away, for days.
func parseRetryAfter(v string, now time.Time, limit time.Duration) time.Duration {
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		d = time.Duration(min(secs, maxRetryAfterSecs) * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil && t.After(now) {
		d = t.Sub(now)
	}
	if limit > 0 {
		d = min(d, limit)
	}
	return d
}
