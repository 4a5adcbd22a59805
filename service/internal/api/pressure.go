package api

import (
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/pressure"
)

// shedOnMemoryPressure refuses new work — every POST — with a 503 and Retry-After while the
// process is short of memory, so the requests already admitted can finish instead of the whole
// process being killed. It runs before the body is read: a refused request costs no body
// buffer. GETs are always answered: the probes and /metrics are how the orchestrator and the
// operator see the pressure, and the lists and the OpenAPI document cost next to nothing. A
// nil monitor admits everything.
func (s *server) shedOnMemoryPressure(p *pressure.Monitor) gin.HandlerFunc {
	return func(c *gin.Context) {
		if p == nil || c.Request.Method != http.MethodPost || p.Admit() {
			c.Next()
			return
		}
		discardBody(c, s.cfg.MaxBodyBytes)
		s.fail(c, &apperr.Error{Kind: apperr.Unavailable, Code: "memory_pressure", RetryAfter: time.Second,
			Message: "The server is short of memory; retry shortly or on another instance."})
	}
}

// discardBody reads what the client is still sending, into a small pooled buffer, before the
// refusal goes out: closing a connection with unread data resets it, and a client still
// writing a large body would see a broken pipe instead of the 503. At most limit bytes are
// read, for at most a second; a body beyond either is left to net/http, which closes.
func discardBody(c *gin.Context, limit int64) {
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.Copy(io.Discard, io.LimitReader(c.Request.Body, limit)); err == nil {
		_ = rc.SetReadDeadline(time.Time{})
	}
}
