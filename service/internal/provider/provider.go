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
	// ChatRaw returns the upstream's chat.completion body as bytes, unparsed: the gateway
	// scans (and so validates) what it needs and passes the rest through without a
	// decode/encode round trip.
	ChatRaw(ctx context.Context, req *wire.ChatRequest) ([]byte, error)
	// ChatStream opens a stream. It returns once the upstream answered with headers, so errors
	// before the first byte (status, connection) are returned here and can be retried.
	ChatStream(ctx context.Context, req *wire.ChatRequest) (Stream, error)
	Images(ctx context.Context, req *wire.ImageRequest) (*wire.ImageResponse, error)
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
	// ErrRedirect, ErrMalformed, ErrBuffersFull): such a failure is final, never retried.
	Err error
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("upstream status %d: %s", e.StatusCode, e.Detail.Message)
}

// Unwrap exposes the reason the provider refused the answer, if it did.
func (e *StatusError) Unwrap() error { return e.Err }

// Reasons for refusing an upstream answer; test with errors.Is. Each comes wrapped in a
// *StatusError whose status the gateway answers with (502, or 503 for ErrBuffersFull).
var (
	// ErrResponseTooLarge: the answer (or one stream event) is larger than its bound. Reading
	// it again would cost the same memory again, so it is not retried.
	ErrResponseTooLarge = errors.New("upstream response too large")
	// ErrRedirect: the upstream answered 3xx. Redirects are not followed, so the API key never
	// goes to another address.
	ErrRedirect = errors.New("upstream redirected")
	// ErrMalformed: a 2xx whose body is valid JSON but not the object asked for.
	ErrMalformed = errors.New("upstream answer malformed")
	// ErrBuffersFull: the answers being received already hold all the memory they may share.
	ErrBuffersFull = errors.New("upstream answer buffers full")
)

// ConnError is a transport failure: the upstream could not be reached or dropped the connection.
type ConnError struct{ Err error }

func (e *ConnError) Error() string { return "upstream connection: " + e.Err.Error() }
func (e *ConnError) Unwrap() error { return e.Err }

// Retryable reports whether a failed attempt may be tried again: connection failures and the
// statuses that mean "not now" (429, 500, 502, 503, 504). Other 4xx are the caller's fault.
func Retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		if se.Err != nil {
			return false
		}
		switch se.StatusCode {
		case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var ce *ConnError
	return errors.As(err, &ce)
}

// RetryAfter is the upstream's requested delay, if any.
func RetryAfter(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

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
