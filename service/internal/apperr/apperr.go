// Package apperr is the gateway's one error type. Every layer returns *Error (or wraps one) with
// a Kind that says who caused the failure and what the client should do; the API layer's status
// table per surface (api/status.go) turns a Kind into an HTTP status and error body, so nothing
// below it knows about status codes.
package apperr

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error by who caused it and what the client should do.
type Kind uint8

// The kinds, from the client's point of view (with the status OpenAI's surface gives each).
const (
	Internal             Kind = iota // a bug: 500
	InvalidRequest                   // malformed or invalid input: 400
	Authentication                   // missing or wrong API key: 401
	NotFound                         // unknown model, agent or route: 404
	MethodNotAllowed                 // 405
	PayloadTooLarge                  // body over the cap: 413
	UnsupportedMediaType             // not JSON: 415
	RateLimit                        // shed or upstream 429: 429
	Upstream                         // the provider failed or sent garbage: 502
	Unavailable                      // circuit open, draining: 503
	Timeout                          // the route deadline or a stream limit passed: 504
	Shutdown                         // stream ended by graceful shutdown (SSE only)
	Canceled                         // the client went away; nothing is written
	RequestTimeout                   // the client did not send its body within the deadline: 408
	Forbidden                        // a valid key that may not do this (e.g. use this model): 403
)

// names are the kinds' low-cardinality names (the `error.type` span attribute and log field).
var names = [...]string{
	Internal: "internal_error", InvalidRequest: "invalid_request_error", Authentication: "authentication_error",
	NotFound: "not_found_error", MethodNotAllowed: "invalid_request_error", PayloadTooLarge: "invalid_request_error",
	UnsupportedMediaType: "invalid_request_error", RateLimit: "rate_limit_error", Upstream: "upstream_error",
	Unavailable: "service_unavailable", Timeout: "timeout", Shutdown: "shutdown", Canceled: "canceled",
	RequestTimeout: "timeout", Forbidden: "permission_error",
}

// String names the kind (the `error.type` span attribute).
func (k Kind) String() string { return names[k] }

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
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Message, e.Cause)
	}
	return e.Kind.String() + ": " + e.Message
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

// Under places an element's error inside its container. A validator checks one element and
// names its fields from the element (".role"); the caller, which knows where the element sits,
// builds the prefix ("messages[2]") only when there is an error, so a valid request pays for no
// paths. Messages start with the param, so both take the prefix.
func (e *Error) Under(prefix string) *Error {
	u := *e
	u.Param, u.Message = prefix+e.Param, prefix+e.Message
	return &u
}

// Wrap attaches a kind and a client-safe message to an internal cause.
func Wrap(k Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// From returns the *Error inside err, classifying context errors and anything unknown, or nil
// for nil. A context deadline becomes Timeout and a cancellation Canceled, so a deadline that
// fires in any layer surfaces as a 504 rather than a 500.
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
