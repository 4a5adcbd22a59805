package api

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/wire"
)

// ErrShutdown is the cause with which the server's base context is cancelled when the grace
// period ends: whatever is still running reports it as a `shutdown` error.
var ErrShutdown = &apperr.Error{Kind: apperr.Shutdown, Code: "shutdown", RetryAfter: time.Second,
	Message: "The server is shutting down; retry on another instance."}

// resolve turns any error into the *apperr.Error the client sees. When the request's context
// ended, its cause wins (the route deadline, a client that left, the shutdown), so every layer
// may return whatever context error it saw.
func resolve(ctx context.Context, err error) *apperr.Error {
	var own *apperr.Error
	if errors.As(err, &own) && own.Kind == apperr.RequestTimeout {
		return own // the client's slow body, even though the deadline fired with it
	}
	if ctx.Err() != nil {
		var ae *apperr.Error
		if cause := context.Cause(ctx); errors.As(cause, &ae) {
			return ae
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return apperr.Wrap(apperr.Timeout, err, "The request took longer than this route's deadline.")
		}
	}
	return apperr.From(err)
}

// body builds OpenAI's error envelope.
func body(e *apperr.Error) wire.ErrorBody {
	d := wire.ErrorDetail{Message: e.Message, Type: e.Kind.Type()}
	if e.Code != "" {
		d.Code = &e.Code
	}
	if e.Param != "" {
		d.Param = &e.Param
	}
	return wire.ErrorBody{Error: d}
}

// fail writes an error response (the one place kinds become statuses) and logs internal causes.
func (s *server) fail(c *gin.Context, err error) {
	e := resolve(c.Request.Context(), err)
	s.m.count(info(c).route, e)
	if e.Kind == apperr.Canceled {
		// The client is gone; nothing can be written. 499 is nginx's "client closed request".
		c.Status(e.Kind.Status())
		c.Abort()
		return
	}
	if e.Kind == apperr.Internal || e.Cause != nil && e.Kind >= apperr.Upstream {
		s.log.LogAttrs(c.Request.Context(), levelFor(e.Kind), "request failed",
			slog.String("error_type", e.Kind.Type()), slog.String("error", e.Error()))
	}
	status := e.Kind.Status()
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	c.AbortWithStatusJSON(status, body(e))
}

func levelFor(k apperr.Kind) slog.Level {
	if k == apperr.Internal {
		return slog.LevelError
	}
	return slog.LevelWarn
}
