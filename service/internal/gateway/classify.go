package gateway

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/provider"
)

// Verdict is what a finished attempt tells the circuit breaker.
type Verdict uint8

// The verdicts.
const (
	Healthy   Verdict = iota // the upstream answered as designed (a 2xx, or its own 4xx)
	Failing                  // the upstream's own failure: counts towards opening the breaker
	NoVerdict                // says nothing of the upstream: a 429, the caller leaving, a refusal before sending
)

// Failure is everything the gateway and the API layer decide about one error, decided once.
type Failure struct {
	Err      *apperr.Error // what the client sees; nil for a success
	Retry    bool          // the same route may be tried again
	Fallback bool          // the next route of the chain may be tried
	Verdict  Verdict
	Type     string // the low-cardinality error.type span attribute
	Outcome  string // the cost_provider_api_calls_total outcome label
	// RetryAfter is the delay the upstream asked for before another try.
	RetryAfter time.Duration
	// Cooldown is how long the deployment that answered asked to be left alone (a 429 with
	// Retry-After): the balancer sends elsewhere meanwhile. It says nothing of its health.
	Cooldown time.Duration
}

// errCircuitOpen marks a call refused by an open breaker: the next route may still serve it.
var errCircuitOpen = errors.New("circuit open")

// Classify is the only place an error gets its meaning. ctx is the context the failed work ran
// under: when it ended, its cause wins over whatever error that surfaced as (a stream limit or
// the shutdown, the route deadline, a client that left) — except a client's slow body, which
// is its own 408 even though the deadline fired with it.
func Classify(ctx context.Context, err error) Failure {
	if err == nil {
		return Failure{Verdict: Healthy, Outcome: cost.OutcomeSuccess}
	}
	var own *apperr.Error
	isOwn := errors.As(err, &own)
	if isOwn && own.Kind == apperr.RequestTimeout {
		return ofKind(own, NoVerdict)
	}
	if ctx.Err() != nil {
		return ended(ctx, err)
	}
	if isOwn {
		// The gateway's own refusals, or a failure that already has its meaning.
		f := ofKind(own, NoVerdict)
		f.Fallback = errors.Is(err, errCircuitOpen) || errors.Is(err, errLimited)
		return f
	}
	var se *provider.StatusError
	var ce *provider.ConnError
	var ie *provider.InvalidError
	switch {
	case errors.As(err, &se):
		return upstreamStatus(se, err)
	case errors.As(err, &ce):
		return connFailure(err)
	case errors.As(err, &ie):
		// Garbage is not retried on the same upstream (it would most likely send the same), but
		// another model's upstream may do better.
		f := ofKind(apperr.Wrap(apperr.Upstream, err, "The upstream sent an invalid %s.", ie.What), Failing)
		f.Fallback, f.Type = true, "invalid_response"
		return f
	}
	return ofKind(apperr.From(err), NoVerdict)
}

// connFailure is a transport failure: retried, then the next route; a timeout (connect,
// response headers) is a 504, anything else a 502.
func connFailure(err error) Failure {
	f := Failure{Retry: true, Fallback: true, Verdict: Failing, Type: "connection", Outcome: cost.OutcomeError}
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		f.Err, f.Outcome = apperr.Wrap(apperr.Timeout, err, "The upstream did not answer in time."), cost.OutcomeTimeout
	} else {
		f.Err = apperr.Wrap(apperr.Upstream, err, "The upstream could not be reached.")
	}
	return f
}

// ended classifies the failure of work whose context ended. An error already classified as
// that end (by the gateway, before the API layer looks again) is kept as it is.
func ended(ctx context.Context, err error) Failure {
	var cause, own *apperr.Error
	if errors.As(context.Cause(ctx), &cause) {
		return ofKind(cause, NoVerdict)
	}
	kind, verdict, msg := apperr.Canceled, NoVerdict, "The request was canceled."
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// A deadline that passed while the upstream worked counts against it.
		kind, verdict, msg = apperr.Timeout, Failing, "The request took longer than this route's deadline."
	}
	if !errors.As(err, &own) || own.Kind != kind {
		own = apperr.Wrap(kind, err, "%s", msg)
	}
	return ofKind(own, verdict)
}

// ofKind is the failure of an error that is already the client's answer.
func ofKind(e *apperr.Error, v Verdict) Failure {
	f := Failure{Err: e, Verdict: v, Type: e.Kind.String(), Outcome: cost.OutcomeError}
	switch e.Kind {
	case apperr.Timeout:
		f.Outcome = cost.OutcomeTimeout
	case apperr.Canceled, apperr.Shutdown:
		f.Outcome = cost.OutcomeCanceled
	}
	return f
}

// upstreamStatus maps an upstream's HTTP error answer. Its 4xx other than 429 carry its
// message and say it is healthy; its credentials problems are the gateway's, so they become a
// 502 rather than telling the client its own key is wrong. 429, 500, 502, 503 and 504 mean
// "not now": retried, then the next route.
func upstreamStatus(se *provider.StatusError, err error) Failure {
	msg := se.Detail.Message
	f := Failure{Verdict: Healthy, Type: strconv.Itoa(se.StatusCode), Outcome: cost.OutcomeError}
	switch c := se.StatusCode; {
	case c == 429:
		f.Err = &apperr.Error{Kind: apperr.RateLimit, Code: "upstream_rate_limited", RetryAfter: se.RetryAfter,
			Message: "The upstream is rate limiting requests: " + msg, Cause: err}
		f.Verdict, f.Outcome, f.Cooldown = NoVerdict, cost.OutcomeRateLimited, se.RetryAfter
	case c == 401 || c == 403:
		f.Err = apperr.Wrap(apperr.Upstream, err, "The upstream rejected the gateway's credentials.")
	case c == 404:
		f.Err = &apperr.Error{Kind: apperr.NotFound, Message: msg, Cause: err}
	case c == 413:
		f.Err = &apperr.Error{Kind: apperr.PayloadTooLarge, Message: msg, Cause: err}
	case c >= 400 && c < 500:
		f.Err = &apperr.Error{Kind: apperr.InvalidRequest, Message: msg, Cause: err}
	case c == 500 || c == 502:
		f.Err, f.Verdict = apperr.Wrap(apperr.Upstream, err, "The upstream failed: %s", msg), Failing
	case c == 503 || c == 529: // 529 is Anthropic's "overloaded"
		f.Err = &apperr.Error{Kind: apperr.Unavailable, RetryAfter: se.RetryAfter, Message: "The upstream is unavailable: " + msg, Cause: err}
		f.Verdict = Failing
	case c == 504:
		f.Err, f.Verdict = apperr.Wrap(apperr.Timeout, err, "The upstream timed out."), Failing
	default:
		f.Err = apperr.Wrap(apperr.Upstream, err, "The upstream failed: %s", msg)
	}
	f.Retry = (f.Verdict == Failing || se.StatusCode == 429) && se.Err == nil // a refused answer (provider.ErrResponseTooLarge, ErrRedirect) is final
	f.Fallback = f.Retry
	f.RetryAfter = se.RetryAfter
	return f
}
