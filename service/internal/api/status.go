package api

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/wire"
)

// openAIErrors is the one table from error kinds to what an OpenAI-compatible client gets: the
// HTTP status and OpenAI's `error.type`. Every route speaks OpenAI's shape today; another
// surface (Anthropic's) would add its own table beside this one.
var openAIErrors = [...]struct {
	status int
	typ    string
}{
	apperr.Internal:             {http.StatusInternalServerError, "internal_error"},
	apperr.InvalidRequest:       {http.StatusBadRequest, "invalid_request_error"},
	apperr.Authentication:       {http.StatusUnauthorized, "authentication_error"},
	apperr.NotFound:             {http.StatusNotFound, "not_found_error"},
	apperr.MethodNotAllowed:     {http.StatusMethodNotAllowed, "invalid_request_error"},
	apperr.PayloadTooLarge:      {http.StatusRequestEntityTooLarge, "invalid_request_error"},
	apperr.UnsupportedMediaType: {http.StatusUnsupportedMediaType, "invalid_request_error"},
	apperr.RateLimit:            {http.StatusTooManyRequests, "rate_limit_error"},
	apperr.Upstream:             {http.StatusBadGateway, "upstream_error"},
	apperr.Unavailable:          {http.StatusServiceUnavailable, "service_unavailable"},
	apperr.Timeout:              {http.StatusGatewayTimeout, "timeout"},
	apperr.Shutdown:             {http.StatusServiceUnavailable, "shutdown"}, // a stream's closing event
	apperr.Canceled:             {499, "canceled"},                           // nginx's "client closed request"; nothing is written
	apperr.RequestTimeout:       {http.StatusRequestTimeout, "timeout"},
	apperr.Forbidden:            {http.StatusForbidden, "permission_error"},
}

// statusOf is the HTTP status of a kind.
func statusOf(k apperr.Kind) int { return openAIErrors[k].status }

// body builds OpenAI's error envelope.
func body(ctx context.Context, e *apperr.Error) wire.ErrorBody {
	d := wire.ErrorDetail{Message: e.Message, Type: openAIErrors[e.Kind].typ}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		d.TraceID = sc.TraceID().String()
	}
	if e.Code != "" {
		d.Code = &e.Code
	}
	if e.Param != "" {
		d.Param = &e.Param
	}
	return wire.ErrorBody{Error: d}
}
