package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/provider"
)

// netTimeout is a transport timeout (a response-header or dial timeout).
type netTimeout struct{}

func (netTimeout) Error() string   { return "i/o timeout" }
func (netTimeout) Timeout() bool   { return true }
func (netTimeout) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	limit := &apperr.Error{Kind: apperr.Timeout, Code: "first_token_timeout", Message: "limit"}
	deadline, cancelDeadline := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelDeadline()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	limited, cancelLimited := context.WithCancelCause(context.Background())
	cancelLimited(limit)
	live := context.Background()
	slowBody := &apperr.Error{Kind: apperr.RequestTimeout, Code: "request_body_timeout", Message: "slow"}

	for _, tc := range []struct {
		name     string
		ctx      context.Context
		err      error
		kind     apperr.Kind
		retry    bool
		fallback bool
		verdict  Verdict
		typ      string
		outcome  string
	}{
		{"connection", live, &provider.ConnError{Err: io.ErrUnexpectedEOF}, apperr.Upstream, true, true, Failing, "connection", "error"},
		{"wrapped connection", live, fmt.Errorf("x: %w", &provider.ConnError{Err: io.EOF}), apperr.Upstream, true, true, Failing, "connection", "error"},
		{"transport timeout", live, &provider.ConnError{Err: netTimeout{}}, apperr.Timeout, true, true, Failing, "connection", "timeout"},
		{"429", live, &provider.StatusError{StatusCode: 429}, apperr.RateLimit, true, true, NoVerdict, "429", "rate_limited"},
		{"500", live, &provider.StatusError{StatusCode: 500}, apperr.Upstream, true, true, Failing, "500", "error"},
		{"502", live, &provider.StatusError{StatusCode: 502}, apperr.Upstream, true, true, Failing, "502", "error"},
		{"503", live, &provider.StatusError{StatusCode: 503}, apperr.Unavailable, true, true, Failing, "503", "error"},
		{"504", live, &provider.StatusError{StatusCode: 504}, apperr.Timeout, true, true, Failing, "504", "error"},
		{"400: the caller's", live, &provider.StatusError{StatusCode: 400}, apperr.InvalidRequest, false, false, Healthy, "400", "error"},
		{"401: the gateway's key", live, &provider.StatusError{StatusCode: 401}, apperr.Upstream, false, false, Healthy, "401", "error"},
		{"404", live, &provider.StatusError{StatusCode: 404}, apperr.NotFound, false, false, Healthy, "404", "error"},
		{"413", live, &provider.StatusError{StatusCode: 413}, apperr.PayloadTooLarge, false, false, Healthy, "413", "error"},
		{"501", live, &provider.StatusError{StatusCode: 501}, apperr.Upstream, false, false, Healthy, "501", "error"},
		{"garbage", live, &provider.InvalidError{What: "chat completion"}, apperr.Upstream, false, true, Failing, "invalid_response", "error"},
		{"too large: final", live, &provider.StatusError{StatusCode: 502, Err: provider.ErrResponseTooLarge}, apperr.Upstream, false, false, Failing, "502", "error"},
		{"redirect: final", live, &provider.StatusError{StatusCode: 502, Err: provider.ErrRedirect}, apperr.Upstream, false, false, Failing, "502", "error"},
		{"circuit open", live, &apperr.Error{Kind: apperr.Unavailable, Code: "circuit_open", Cause: errCircuitOpen}, apperr.Unavailable, false, true, NoVerdict, "service_unavailable", "error"},
		{"shed", live, &apperr.Error{Kind: apperr.RateLimit, Code: "overloaded"}, apperr.RateLimit, false, false, NoVerdict, "rate_limit_error", "error"},
		{"already classified", live, apperr.Wrap(apperr.Upstream, &provider.StatusError{StatusCode: 401}, "creds"), apperr.Upstream, false, false, NoVerdict, "upstream_error", "error"},
		{"unknown", live, errors.New("boom"), apperr.Internal, false, false, NoVerdict, "internal_error", "error"},
		// When the work's context ended, its end wins over what it surfaced as.
		{"route deadline", deadline, &provider.ConnError{Err: os.ErrDeadlineExceeded}, apperr.Timeout, false, false, Failing, "timeout", "timeout"},
		{"client left", canceled, &provider.StatusError{StatusCode: 503}, apperr.Canceled, false, false, NoVerdict, "canceled", "canceled"},
		{"a stream limit", limited, fmt.Errorf("read: %w", context.Canceled), apperr.Timeout, false, false, NoVerdict, "timeout", "timeout"},
		{"a slow body wins over the deadline", deadline, slowBody, apperr.RequestTimeout, false, false, NoVerdict, "timeout", "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Classify(tc.ctx, tc.err)
			if f.Err == nil || f.Err.Kind != tc.kind || f.Retry != tc.retry || f.Fallback != tc.fallback ||
				f.Verdict != tc.verdict || f.Type != tc.typ || f.Outcome != tc.outcome {
				t.Errorf("Classify = {kind %v retry %v fallback %v verdict %v type %q outcome %q}, want {%v %v %v %v %q %q}",
					f.Err.Kind, f.Retry, f.Fallback, f.Verdict, f.Type, f.Outcome,
					tc.kind, tc.retry, tc.fallback, tc.verdict, tc.typ, tc.outcome)
			}
		})
	}
	// Classifying again (the API layer after the gateway) keeps the first classification.
	first := Classify(deadline, &provider.ConnError{Err: os.ErrDeadlineExceeded}).Err
	if again := Classify(deadline, first).Err; again != first {
		t.Errorf("classified again: %v, want the same %v", again, first)
	}
	if f := Classify(live, nil); f.Err != nil || f.Verdict != Healthy || f.Outcome != "success" {
		t.Errorf("Classify(nil) = %+v, want a success", f)
	}
	if f := Classify(live, &provider.StatusError{StatusCode: 503, RetryAfter: 3 * time.Second}); f.RetryAfter != 3*time.Second || f.Err.RetryAfter != 3*time.Second {
		t.Errorf("503's Retry-After: %v / %v", f.RetryAfter, f.Err.RetryAfter)
	}
}
