package api

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/gateway"
)

// ErrShutdown is the cause with which the server's base context is cancelled when the grace
// period ends: whatever is still running reports it as a `shutdown` error.
var ErrShutdown = &apperr.Error{Kind: apperr.Shutdown, Code: "shutdown", RetryAfter: time.Second,
	Message: "The server is shutting down; retry on another instance."}

// fail writes an error response and logs internal causes. The error's meaning comes from the
// gateway's one classifier (under the request's context, so its end wins), its status from the
// surface's table.
func (s *server) fail(c *gin.Context, err error) {
	e := gateway.Classify(c.Request.Context(), err).Err
	exchangeOf(c).failure = e
	if e.Kind == apperr.Canceled {
		// The client is gone; nothing can be written.
		c.Status(statusOf(e.Kind))
		c.Abort()
		return
	}
	if e.Kind == apperr.Internal || e.Cause != nil && e.Kind >= apperr.Upstream {
		s.log.LogAttrs(c.Request.Context(), levelFor(e.Kind), "request failed",
			slog.String("error_type", e.Kind.String()), slog.String("error", e.Error()))
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	c.AbortWithStatusJSON(errorResponse(c, e))
}

func levelFor(k apperr.Kind) slog.Level {
	if k == apperr.Internal {
		return slog.LevelError
	}
	return slog.LevelWarn
}
