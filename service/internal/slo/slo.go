// Package slo classifies each request as good or bad for the availability and latency SLIs and
// publishes the slo_* metrics that the SLO recording rules are built on.
package slo

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// routeGroups maps every route template with an SLO to its route group.
var routeGroups = map[string]string{
	"/v1/chat": "chat", "/v1/chat/stream": "chat", "/v1/chat/completions": "chat", "/v1/messages": "chat",
	"/v1/responses": "chat", // the Responses API is a model answer like chat's, streamed or not
	"/v1/images":    "images", "/v1/images/generations": "images",
	"/v1/agents/:id/runs": "agents",
	"/v1/embeddings":      "embeddings",
}

// Group is the SLO route group of a route template, or "" for routes outside any SLO.
func Group(route string) string { return routeGroups[route] }

// Groups are the route groups with SLOs.
var Groups = []string{"chat", "images", "agents", "embeddings"}

// Objectives configure the SLOs.
type Objectives struct {
	Availability float64
	Latency      float64
	Thresholds   map[string]time.Duration // by route group
}

// Recorder records SLI events.
type Recorder struct {
	thresholds map[string]time.Duration
	events     *prometheus.CounterVec
	routes     map[string]*routeEvents // resolved at start: Observe hashes no labels
}

// routeEvents are one route's slo_events_total children.
type routeEvents struct {
	group                   string
	availGood, availBad     prometheus.Counter
	latencyGood, latencyBad prometheus.Counter
}

// NewRecorder registers slo_events_total and the objective gauges.
func NewRecorder(reg prometheus.Registerer, o Objectives) *Recorder {
	r := &Recorder{thresholds: o.Thresholds}
	r.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slo_events_total",
		Help: "SLI events: slo is availability or latency, result is good or bad. 4xx are not counted.",
	}, []string{"slo", "route_group", "route", "result"})
	objective := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "slo_objective_ratio",
		Help: "The objective of each SLO, e.g. 0.999.",
	}, []string{"slo", "route_group"})
	threshold := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "slo_latency_threshold_seconds",
		Help: "The latency SLI threshold of each route group.",
	}, []string{"route_group"})
	for _, g := range Groups {
		objective.WithLabelValues("availability", g).Set(o.Availability)
		objective.WithLabelValues("latency", g).Set(o.Latency)
		threshold.WithLabelValues(g).Set(o.Thresholds[g].Seconds())
	}
	reg.MustRegister(r.events, objective, threshold)
	// Pre-create the series so rates start at zero rather than absent.
	r.routes = map[string]*routeEvents{}
	for route, g := range routeGroups {
		r.routes[route] = &routeEvents{group: g,
			availGood: r.events.WithLabelValues("availability", g, route, "good"), availBad: r.events.WithLabelValues("availability", g, route, "bad"),
			latencyGood: r.events.WithLabelValues("latency", g, route, "good"), latencyBad: r.events.WithLabelValues("latency", g, route, "bad")}
	}
	return r
}

// Observe classifies a finished request. latency is the whole request for normal responses and
// the time to first byte for streams. Availability: 5xx bad, 4xx excluded, the rest good.
// Latency: only successful requests count, good when under the group's threshold.
func (r *Recorder) Observe(route string, status int, latency time.Duration) {
	e := r.routes[route]
	if e == nil || (status >= 400 && status < 500) {
		return
	}
	if status >= 500 {
		e.availBad.Inc()
		return
	}
	e.availGood.Inc()
	if latency > r.thresholds[e.group] {
		e.latencyBad.Inc()
	} else {
		e.latencyGood.Inc()
	}
}
