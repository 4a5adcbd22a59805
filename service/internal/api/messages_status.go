package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/wire"
)

// anthropicErrors is the table of the Messages surface, beside openAIErrors: the same kinds,
// with Anthropic's statuses and error types. The gateway's own shedding and an unavailable
// upstream are 529 overloaded_error there, which Anthropic's SDKs retry.
var anthropicErrors = [...]struct {
	status int
	typ    string
}{
	apperr.Internal:             {http.StatusInternalServerError, "api_error"},
	apperr.InvalidRequest:       {http.StatusBadRequest, "invalid_request_error"},
	apperr.Authentication:       {http.StatusUnauthorized, "authentication_error"},
	apperr.Forbidden:            {http.StatusForbidden, "permission_error"},
	apperr.NotFound:             {http.StatusNotFound, "not_found_error"},
	apperr.MethodNotAllowed:     {http.StatusMethodNotAllowed, "invalid_request_error"},
	apperr.PayloadTooLarge:      {http.StatusRequestEntityTooLarge, "request_too_large"},
	apperr.UnsupportedMediaType: {http.StatusUnsupportedMediaType, "invalid_request_error"},
	apperr.RateLimit:            {http.StatusTooManyRequests, "rate_limit_error"},
	apperr.Upstream:             {http.StatusBadGateway, "api_error"},
	apperr.Unavailable:          {statusOverloaded, "overloaded_error"},
	apperr.Timeout:              {http.StatusGatewayTimeout, "timeout_error"},
	apperr.Shutdown:             {statusOverloaded, "overloaded_error"},
	apperr.Canceled:             {499, "api_error"},
	apperr.RequestTimeout:       {http.StatusRequestTimeout, "timeout_error"},
}

// statusOverloaded is Anthropic's own status for "overloaded, retry later".
const statusOverloaded = 529

// messagesSurface reports whether the request is on Anthropic's surface.
func messagesSurface(c *gin.Context) bool { return strings.HasPrefix(c.FullPath(), "/v1/messages") }

// errorResponse is an error's status and body in the surface's own shape.
func errorResponse(c *gin.Context, e *apperr.Error) (int, any) {
	if !messagesSurface(c) {
		return statusOf(e.Kind), body(c.Request.Context(), e)
	}
	return anthropicStatus(e), anthropicBody(c.Request.Context(), e)
}

// anthropicStatus is a kind's status on the Messages surface; the gateway's shedding (its
// in-flight and stream budgets, its answer buffers) is 529 rather than a 429.
func anthropicStatus(e *apperr.Error) int {
	if e.Kind == apperr.RateLimit && e.Code == "overloaded" {
		return statusOverloaded
	}
	return anthropicErrors[e.Kind].status
}

// anthropicBody builds Anthropic's error envelope.
func anthropicBody(ctx context.Context, e *apperr.Error) wire.AErrorBody {
	typ := anthropicErrors[e.Kind].typ
	if anthropicStatus(e) == statusOverloaded {
		typ = "overloaded_error"
	}
	d := wire.AErrorDetail{Type: typ, Message: e.Message}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		d.TraceID = sc.TraceID().String()
	}
	return wire.AErrorBody{Type: "error", Error: d}
}
