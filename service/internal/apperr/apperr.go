// Package apperr is the gateway's one error type. Every layer returns *Error (or wraps one) with
// a Kind; the API layer maps the Kind to an HTTP status and OpenAI's error envelope in one place,
// so nothing below it knows about status codes.
package apperr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kind classifies an error by who caused it and what the client should do.
type Kind uint8

// The kinds, from the client's point of view.
const (
	Internal             Kind = iota // a bug: 500
	InvalidRequest                   // malformed or invalid input: 400
	Authentication                   // missing or wrong API key: 401
	NotFound                         // unknown model, agent or route: 404
	MethodNotAllowed                 // 405
	PayloadTooLarge                  // body over the cap: 413
	UnsupportedMediaType             // not JSON: 415
	RateLimit                        // shed or upstream 429: 429
	Upstream                         // the provider failed: 502
	Unavailable                      // circuit open, draining: 503
	Timeout                          // the route deadline passed: 504
	Shutdown                         // stream ended by graceful shutdown (SSE only)
	Canceled                         // the client went away; nothing is written
	RequestTimeout                   // the client did not send its body within the deadline: 408
)

var kindInfo = [...]struct {
	status int
	typ    string
}{
	Internal:             {http.StatusInternalServerError, "internal_error"},
	InvalidRequest:       {http.StatusBadRequest, "invalid_request_error"},
	Authentication:       {http.StatusUnauthorized, "authentication_error"},
	NotFound:             {http.StatusNotFound, "not_found_error"},
	MethodNotAllowed:     {http.StatusMethodNotAllowed, "invalid_request_error"},
	PayloadTooLarge:      {http.StatusRequestEntityTooLarge, "invalid_request_error"},
	UnsupportedMediaType: {http.StatusUnsupportedMediaType, "invalid_request_error"},
	RateLimit:            {http.StatusTooManyRequests, "rate_limit_error"},
	Upstream:             {http.StatusBadGateway, "upstream_error"},
	Unavailable:          {http.StatusServiceUnavailable, "service_unavailable"},
	Timeout:              {http.StatusGatewayTimeout, "timeout"},
	Shutdown:             {http.StatusServiceUnavailable, "shutdown"},
	Canceled:             {499, "canceled"},
	RequestTimeout:       {http.StatusRequestTimeout, "timeout"},
}

// Status is the HTTP status for the kind.
func (k Kind) Status() int { return kindInfo[k].status }

// Type is the `error.type` string for the kind.
func (k Kind) Type() string { return kindInfo[k].typ }

// String names the kind (used as the `error.type` span attribute).
func (k Kind) String() string { return kindInfo[k].typ }

// Error is an error with a kind and a message safe to show the client. Cause holds the internal
// detail, which goes to logs only.
type Error struct {
	Kind       Kind
	Message    string
	Code       string        // OpenAI's `error.code`, e.g. "model_not_found"; optional
	Param      string        // the offending request field; optional
	RetryAfter time.Duration // for RateLimit/Unavailable: sent as Retry-After
	Cause      error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind.Type(), e.Message, e.Cause)
	}
	return e.Kind.Type() + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// New builds an error of a kind.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Invalid is an InvalidRequest naming the offending parameter.
func Invalid(param, format string, args ...any) *Error {
	return &Error{Kind: InvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// Wrap attaches a kind and a client-safe message to an internal cause.
func Wrap(k Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// From returns the *Error inside err, classifying context errors and anything unknown.
// A context deadline becomes Timeout and a cancellation Canceled, so a deadline that fires in any
// layer surfaces as a 504 rather than a 500.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Wrap(Timeout, err, "the request took longer than its deadline")
	case errors.Is(err, context.Canceled):
		return Wrap(Canceled, err, "the request was canceled")
	}
	return Wrap(Internal, err, "internal error")
}

// Excerpt bounds what of a client-supplied value is echoed in a message.
func Excerpt(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}

// KindOf is From(err).Kind, or Internal for nil-safe callers.
func KindOf(err error) Kind {
	if e := From(err); e != nil {
		return e.Kind
	}
	return Internal
}
