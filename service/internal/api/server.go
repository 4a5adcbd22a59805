// Package api is the HTTP face of the gateway: the Gin router with every route in one place,
// the middleware chain, thin handlers that decode, validate and call the gateway, the SSE writer
// and the one mapping from error kinds to OpenAI's error envelope.
package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/agent"
	"aiservice/service/internal/apperr"
	"aiservice/service/internal/cache"
	"aiservice/service/internal/config"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/gateway"
	"aiservice/service/internal/keys"
	"aiservice/service/internal/limits"
	"aiservice/service/internal/pressure"
	"aiservice/service/internal/slo"
)

//go:embed openapi.json
var openAPI []byte

// Deps are what the HTTP layer needs.
type Deps struct {
	Options    Options
	Gateway    *gateway.Gateway
	Agents     *agent.Runner
	Cost       *cost.Tracker // records each request's spend
	Registry   *prometheus.Registry
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator
	Log        *slog.Logger
	// Ready reports readiness; /readyz answers 503 when it is false (e.g. while draining).
	Ready *atomic.Bool
	// Pressure sheds new requests while memory is short (nil: never).
	Pressure *pressure.Monitor
	// Responses serves the Responses API and its stored responses.
	Responses *gateway.Responder
	// Keys are the client keys; Limits admits their requests (api/limits.go).
	Keys   *keys.Registry
	Limits *limits.Policy
	Cache  *cache.Cache
}

type server struct {
	cfg        Options
	gw         *gateway.Gateway
	agents     *agent.Runner
	cost       *cost.Tracker
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	log        *slog.Logger
	ready      *atomic.Bool
	m          *httpMetrics
	slo        *slo.Recorder
	keys       *keys.Registry
	policy     *limits.Policy
	cache      *cache.Cache
	imageModel string
	responses  *gateway.Responder
}

// Route groups select the deadline of each route (config.Timeouts.For).
const (
	groupChat    = "chat"
	groupStream  = "stream"
	groupImages  = "images"
	groupAgents  = "agents"
	groupEmbed   = "embeddings"
	groupMsgs    = "messages"
	groupHealthz = "healthz"
	groupDefault = "default"
)

// NewServer builds the HTTP handler with every route. Gin's debug mode (route listing and
// warnings on stdout) is the caller's to switch off, once per process: gin.SetMode is global.
func NewServer(d Deps) http.Handler {
	s := &server{
		cfg: d.Options, gw: d.Gateway, agents: d.Agents, cost: d.Cost, tracer: d.Tracer, propagator: d.Propagator,
		log: d.Log, ready: d.Ready,
		m: newHTTPMetrics(d.Registry),
		slo: slo.NewRecorder(d.Registry, slo.Objectives{
			Availability: d.Options.SLO.AvailabilityObjective, Latency: d.Options.SLO.LatencyObjective,
			Thresholds: thresholds(d.Options.SLO.LatencyThresholds),
		}),
		keys: d.Keys, policy: d.Limits, cache: d.Cache,
		responses: d.Responses,
	}
	for _, m := range d.Options.Models {
		if m.Kind == "image" {
			s.imageModel = m.Name
			break
		}
	}

	// In the background: it takes about as long as the rest of startup, which need not wait,
	// and a request that comes before it is done compiles what it needs, as without it.
	go func() {
		if err := pretouch(); err != nil {
			d.Log.Warn("request decoders left to compile at first use", "error", err)
		}
	}()
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.RemoveExtraSlash = false
	// A redirect would skip the middleware (no request id, metrics or JSON body): unknown
	// paths, trailing slash or not, are plain 404s.
	r.RedirectTrailingSlash = false
	r.Use(s.observe, s.recovery, s.shedOnMemoryPressure(d.Pressure), s.limits)

	metrics := promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(d.Log.Handler(), slog.LevelError)})
	routes := s.routes(gin.WrapH(metrics))
	if d.Options.MetricsAddr != "" { // /metrics is then served on its own listener only (cmd/aiservice)
		routes = slices.DeleteFunc(routes, func(rt route) bool { return rt.path == "/metrics" })
	}
	for _, rt := range routes {
		chain := []gin.HandlerFunc{s.deadline(d.Options.Timeouts.For(rt.group))}
		if rt.auth {
			chain = append(chain, s.authenticate)
		}
		chain = append(chain, rt.h)
		r.Handle(rt.method, rt.path, chain...)
		s.m.preload(rt.method, rt.path)
	}
	r.NoRoute(func(c *gin.Context) {
		s.fail(c, &apperr.Error{Kind: apperr.NotFound, Code: "unknown_route",
			Message: "Unknown route " + apperr.Excerpt(c.Request.Method) + " " + safePath(c.Request.URL.Path) + "."})
	})
	r.NoMethod(func(c *gin.Context) {
		s.fail(c, &apperr.Error{Kind: apperr.MethodNotAllowed, Code: "method_not_allowed",
			Message: "Method " + apperr.Excerpt(c.Request.Method) + " is not allowed on " + safePath(c.Request.URL.Path) + "."})
	})
	return r
}

// route is one entry of the route table: its deadline group and whether it needs a key.
type route struct {
	method, path, group string
	auth                bool
	h                   gin.HandlerFunc
}

// routes is the route table: every route the service answers, in one place.
func (s *server) routes(metrics gin.HandlerFunc) []route {
	return []route{
		{"POST", "/v1/chat", groupChat, true, s.chat},
		{"POST", "/v1/chat/stream", groupStream, true, s.chatStream},
		{"POST", "/v1/chat/completions", groupStream, true, s.completions}, // the body and a non-stream answer: chat
		{"POST", "/v1/images", groupImages, true, s.images},
		{"POST", "/v1/images/generations", groupImages, true, s.images},
		{"POST", "/v1/embeddings", groupEmbed, true, s.embeddings},
		{"POST", "/v1/messages", groupMsgs, true, s.messages},
		{"POST", "/v1/messages/count_tokens", groupMsgs, true, s.countTokens},
		{"POST", "/v1/responses", groupStream, true, s.createResponse}, // a non-stream answer: chat, as completions
		{"GET", "/v1/responses/:id", groupDefault, true, s.getResponse},
		{"DELETE", "/v1/responses/:id", groupDefault, true, s.deleteResponse},
		{"GET", "/v1/responses/:id/input_items", groupDefault, true, s.responseInputItems},
		{"GET", "/v1/agents", groupAgents, true, s.listAgents},
		{"GET", "/v1/agents/:id", groupAgents, true, s.getAgent},
		{"POST", "/v1/agents/:id/runs", groupAgents, true, s.runAgent},
		{"GET", "/v1/models", groupDefault, true, s.models},
		{"GET", "/healthz", groupHealthz, false, s.healthz},
		{"GET", "/readyz", groupHealthz, false, s.readyz},
		{"GET", "/metrics", groupHealthz, false, metrics},
		{"GET", "/openapi.json", groupDefault, false, s.openapi},
	}
}

func thresholds(in map[string]config.Duration) map[string]time.Duration {
	out := make(map[string]time.Duration, len(in))
	for k, v := range in {
		out[k] = v.D()
	}
	return out
}

// safePath bounds what of a client-supplied path is echoed back.
func safePath(p string) string {
	if len(p) > 128 {
		return p[:128] + "…"
	}
	return p
}

// narrow shortens the request's deadline (used when /v1/chat/completions turns out not to stream).
func narrow(c *gin.Context, d time.Duration) context.CancelFunc {
	ctx, cancel := context.WithTimeout(c.Request.Context(), d)
	c.Request = c.Request.WithContext(ctx)
	return cancel
}
