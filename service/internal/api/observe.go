package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/gateway"
	"aiservice/service/internal/limits"
)

// exchange is what one request produced, as the handlers report it: the gateway's Call (nil
// on routes that call no model), the error the client got (for a stream: the one its closing
// event carried) and, for a stream, when its first byte went out. observe records everything
// from it once the handler returned.
type exchange struct {
	call      *gateway.Call
	failure   *apperr.Error
	streamed  bool
	firstByte time.Duration
	ticket    *limits.Ticket // the key's reservation, settled in record (api/limits.go)
}

// exchangeKey is the gin.Context key of the request's *exchange. It lives on the request's
// gin.Context, not in its context.Context: that carries only deadlines and cancellation.
const exchangeKey = "aiservice.exchange"

// exchangeOf is the request's exchange; a detached one when observe did not run, so a handler
// never checks.
func exchangeOf(c *gin.Context) *exchange {
	if v, ok := c.Get(exchangeKey); ok {
		return v.(*exchange)
	}
	return &exchange{}
}

// observe is the outermost middleware: request and trace ids, the SERVER span (continuing an
// inbound W3C trace), the in-flight gauge; after the handler, record.
func (s *server) observe(c *gin.Context) {
	start := time.Now()
	route := routeLabel(c.FullPath())
	method := methodLabel(c.Request.Method)
	id := c.GetHeader("X-Request-Id")
	if !validRequestID(id) {
		id = newRequestID()
	}
	c.Header("X-Request-Id", id)

	rm := s.m.route(route)
	ctx := s.propagator.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
	ctx, span := rm.serverSpanFor(method, route).Start(ctx, s.tracer)
	if sc := span.SpanContext(); sc.HasTraceID() {
		c.Header("X-Trace-Id", sc.TraceID().String())
	}
	c.Request = c.Request.WithContext(ctx)
	ex := &exchange{}
	c.Set(exchangeKey, ex)

	rm.inflight.Inc()
	c.Next()
	rm.inflight.Dec()
	s.settle(c, ex)
	s.record(ctx, span, ex, finished{rm: rm, method: method, route: route, id: id,
		status: c.Writer.Status(), bytes: c.Writer.Size(), elapsed: time.Since(start), rawMethod: c.Request.Method})
}

// finished is the HTTP side of a request that was answered.
type finished struct {
	rm                *routeMetrics
	method, route, id string
	rawMethod         string
	status, bytes     int
	elapsed           time.Duration
}

// record is the one place a request is accounted for: request metrics, the SLO event, cost by
// route, the server span and the access log, all from the exchange.
func (s *server) record(ctx context.Context, span trace.Span, ex *exchange, f finished) {
	s.m.record(f.rm, f.method, f.route, f.status, f.elapsed)
	s.m.count(f.rm, ex.failure)
	latency, sloStatus := f.elapsed, f.status
	if e := ex.failure; e != nil && e.Kind != apperr.Canceled {
		// A stream's closing error event is what the client got; and the SLO judges an error by
		// its kind's status on OpenAI's table, whatever the surface's (Anthropic's 529 for
		// shedding is OpenAI's 429, which spends no error budget).
		sloStatus = statusOf(e.Kind)
	}
	if ex.streamed {
		latency = ex.firstByte // a stream's latency is its first byte
	}
	s.slo.Observe(f.route, sloStatus, latency)
	var upstream time.Duration
	if call := ex.call; call != nil {
		upstream = call.Upstream
		if call.Billable() {
			s.cost.RecordRequest(f.route, call.Spend)
		}
	}
	if f.route != unmatched {
		f.rm.overhead.Get().Observe(max(f.elapsed-upstream, 0).Seconds())
	}

	span.SetAttributes(attribute.Int("http.response.status_code", f.status))
	level := slog.LevelInfo
	if f.status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(f.status))
		level = slog.LevelWarn
	}
	span.End()
	s.log.LogAttrs(ctx, level, "request",
		slog.String("method", apperr.Excerpt(f.rawMethod)), slog.String("route", f.route), slog.Int("status", f.status),
		slog.Float64("duration_ms", float64(f.elapsed.Microseconds())/1000), slog.String("request_id", f.id),
		slog.Int("bytes", f.bytes))
}

// unmatched is the one route label of every request that matched no route.
const unmatched = "unmatched"

func routeLabel(fullPath string) string {
	if fullPath == "" {
		return unmatched
	}
	return fullPath
}

// methodLabel keeps the method label a closed set: a client may send any token as a method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}
