package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/telemetry"
)

// validRequestID accepts a client's id only if it is short and plain, so it is safe to echo in
// a header and a log line.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte("-_.:", ch) >= 0) {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recovery turns a panic into a 500 in OpenAI's shape and a log line with the stack.
func (s *server) recovery(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.ErrorContext(c.Request.Context(), "panic while handling a request",
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if c.Writer.Written() {
				c.Abort()
				return
			}
			s.fail(c, apperr.New(apperr.Internal, "Internal server error."))
		}
	}()
	c.Next()
}

// limits caps the request body: a declared length over the cap is refused before reading, and
// a body that grows past it fails the decoder with a 413.
func (s *server) limits(c *gin.Context) {
	max := s.cfg.MaxBodyBytes
	if c.Request.ContentLength > max {
		s.fail(c, &apperr.Error{Kind: apperr.PayloadTooLarge, Code: "request_too_large",
			Message: fmt.Sprintf("The request body is larger than %d bytes.", max)})
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
	c.Next()
}

// deadline applies a route's deadline to the request context; handlers and the upstream call
// obey it, and the error mapping turns its expiry into a 504 (or an SSE timeout event).
func (s *server) deadline(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		// A client that stops reading must not hold the handler past the deadline either;
		// the margin leaves time to write the 504 (or the SSE timeout event) itself.
		_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(d + writeMargin))
		c.Next()
	}
}

// writeMargin is how long after the route deadline a response may still be written.
const writeMargin = time.Second

// authenticate requires `Authorization: Bearer KEY` when keys are configured (api_keys or
// virtual keys), and one Authorization header at most in any case; the key found goes on the
// gin.Context for admit. The lookup (keys.Registry) compares digests in constant time.
func (s *server) authenticate(c *gin.Context) {
	if len(c.Request.Header.Values("Authorization")) > 1 {
		// Which one would count is a guess that a proxy in front may make differently.
		s.fail(c, &apperr.Error{Kind: apperr.InvalidRequest, Code: "duplicate_authorization",
			Message: "Send one Authorization header, not several."})
		return
	}
	if !s.keys.Required() {
		c.Next()
		return
	}
	token, ok := ParseBearer(c.GetHeader("Authorization"))
	if h := c.Request.Header.Values("X-Api-Key"); !ok && len(h) == 1 {
		// Anthropic's SDKs send the key as x-api-key.
		token, ok = h[0], h[0] != "" && len(h[0]) <= 512
	}
	if ok {
		if k, err := s.keys.Lookup(token); err == nil {
			c.Set(keyKey, k)
			c.Next()
			return
		}
	}
	c.Header("WWW-Authenticate", `Bearer realm="aiservice"`)
	s.fail(c, &apperr.Error{Kind: apperr.Authentication, Code: "invalid_api_key",
		Message: "Missing or invalid API key. Send it as `Authorization: Bearer KEY` (or `x-api-key: KEY`)."})
}

// ParseBearer extracts the token of a Bearer Authorization header.
func ParseBearer(h string) (string, bool) {
	scheme, token, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 512 || strings.ContainsAny(token, " \t\r\n") {
		return "", false
	}
	return token, true
}

// httpMetrics are the http_* and gateway_* metrics.
type httpMetrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	inflightV  *prometheus.GaugeVec
	routes     map[string]*routeMetrics
	timeouts   *prometheus.CounterVec
	ttft       *prometheus.HistogramVec
	interChunk *prometheus.HistogramVec
	overhead   *prometheus.HistogramVec
	shed       *prometheus.CounterVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	latency := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests answered, by route template and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request duration until the last byte.", Buckets: latency,
		}, []string{"method", "route", "code"}),
		inflightV: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "http_requests_in_flight", Help: "HTTP requests being handled.",
		}, []string{"route"}),
		routes: map[string]*routeMetrics{},
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_request_timeouts_total", Help: "Requests ended by a deadline (504 or SSE timeout event).",
		}, []string{"route"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_stream_time_to_first_token_seconds", Help: "Streaming: request start to the first content chunk sent.", Buckets: latency,
		}, []string{"route", "model"}),
		interChunk: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_stream_inter_chunk_seconds", Help: "Streaming: gap between consecutive chunks sent.", Buckets: latency,
		}, []string{"route"}),
		overhead: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_overhead_seconds", Help: "Request duration minus time waiting on upstreams.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"route"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "load_shed_total", Help: "Requests refused at the in-flight upstream cap or the open-stream cap.",
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflightV, m.timeouts, m.ttft, m.interChunk, m.overhead, m.shed)
	m.preload("", unmatched)
	return m
}

// routeMetrics are one route's metric children (and how its SERVER span starts),
// resolved once: the hot path then does one map lookup per request instead of
// hashing label values for every metric it touches.
type routeMetrics struct {
	method             string
	span               telemetry.SpanStart // its SERVER span
	inflight           prometheus.Gauge
	timeouts, shedding prometheus.Counter
	ok                 lazy[prometheus.Counter]  // http_requests_total{method, route, code="200"}
	okDuration         lazy[prometheus.Observer] // http_request_duration_seconds{…, code="200"}
	overhead           lazy[prometheus.Observer]
	interChunk         lazy[prometheus.Observer]
}

// lazy resolves a metric child on first use: its series appears when it first counts, as with
// WithLabelValues on the hot path, but later uses skip the label hashing.
type lazy[T any] struct {
	once sync.Once
	v    T
	get  func() T
}

func (l *lazy[T]) Get() T {
	l.once.Do(func() { l.v = l.get() })
	return l.v
}

// preload resolves per-route children at start, so the hot path does no map writes and the
// gauges and error counters exist (at zero) before the first request.
func (m *httpMetrics) preload(method, route string) {
	if _, ok := m.routes[route]; ok {
		return
	}
	rm := &routeMetrics{method: method, inflight: m.inflightV.WithLabelValues(route),
		timeouts: m.timeouts.WithLabelValues(route), shedding: m.shed.WithLabelValues(route)}
	rm.span = serverSpan(method, route)
	rm.ok.get = func() prometheus.Counter { return m.requests.WithLabelValues(method, route, "200") }
	rm.okDuration.get = func() prometheus.Observer { return m.duration.WithLabelValues(method, route, "200") }
	rm.overhead.get = func() prometheus.Observer { return m.overhead.WithLabelValues(route) }
	rm.interChunk.get = func() prometheus.Observer { return m.interChunk.WithLabelValues(route) }
	m.routes[route] = rm
}

// serverSpanFor is how a request's SERVER span starts.
func (rm *routeMetrics) serverSpanFor(method, route string) telemetry.SpanStart {
	if method == rm.method {
		return rm.span
	}
	return serverSpan(method, route)
}

func serverSpan(method, route string) telemetry.SpanStart {
	return telemetry.NewSpanStart(method+" "+route, trace.SpanKindServer,
		[]attribute.KeyValue{attribute.String("http.request.method", method), attribute.String("http.route", route)})
}

// route returns a route's children; unknown routes share the unmatched ones.
func (m *httpMetrics) route(route string) *routeMetrics {
	if rm, ok := m.routes[route]; ok {
		return rm
	}
	return m.routes[unmatched]
}

// record counts a finished request.
func (m *httpMetrics) record(rm *routeMetrics, method, route string, status int, elapsed time.Duration) {
	if status == http.StatusOK && method == rm.method {
		rm.ok.Get().Inc()
		rm.okDuration.Get().Observe(elapsed.Seconds())
		return
	}
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(method, route, code).Inc()
	m.duration.WithLabelValues(method, route, code).Observe(elapsed.Seconds())
}

// count records what the error a request ended with means for the route's counters.
func (m *httpMetrics) count(rm *routeMetrics, e *apperr.Error) {
	switch {
	case e == nil:
	case e.Kind == apperr.Timeout:
		rm.timeouts.Inc()
	case e.Kind == apperr.RateLimit && e.Code == "overloaded":
		rm.shedding.Inc()
	}
}
