// Package gateway holds the use cases — chat, streaming chat, images, embeddings — and everything between a
// validated request and the provider: model routing, load balancing over a model's deployments
// (balance.go), load shedding, the circuit breakers, retries
// within a budget, fallback models, tracing of each upstream attempt and pricing. Every call
// returns a *Call saying what it produced; failures get their meaning once, in Classify.
// It knows nothing of HTTP: the API layer turns a Call and its Failure into a response.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/config"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/provider"
	"aiservice/service/internal/telemetry"
)

// Options are the settings the gateway obeys.
type Options struct {
	Models     []config.Model
	Resilience config.Resilience
	// StreamFirstToken and StreamIdle are a stream's time-to-first-token and inter-chunk limits.
	StreamFirstToken, StreamIdle time.Duration
	RecordContent                bool // record prompt and completion text on spans
}

// OptionsFrom picks the gateway's settings out of a configuration.
func OptionsFrom(c *config.Config) Options {
	return Options{Models: c.Models, Resilience: c.Resilience, StreamFirstToken: c.Timeouts.StreamFirstToken.D(),
		StreamIdle: c.Timeouts.StreamIdle.D(), RecordContent: c.Telemetry.RecordContent}
}

// Deps are the gateway's collaborators.
type Deps struct {
	Options   Options
	Providers map[string]provider.Provider // by configured provider name
	Prices    *cost.Table
	Cost      *cost.Tracker
	Registry  prometheus.Registerer
	Tracer    trace.Tracer
	Log       *slog.Logger
}

// Gateway routes requests to providers.
type Gateway struct {
	cfg config.Resilience
	// firstToken and idle are a stream's time-to-first-token and inter-chunk limits.
	firstToken, idle time.Duration
	record           bool // record prompt/completion text on spans
	prices           *cost.Table
	cost             *cost.Tracker
	tracer           trace.Tracer
	log              *slog.Logger
	routes           map[string]*pool // by public model name
	m                *metrics
	jitter           func() float64
	sleep            func(context.Context, time.Duration) bool // false when ctx ended first
}

// pool is one configured model: its deployments, the policy that picks among them, its retry
// budget and its fallback chain.
type pool struct {
	model  config.Model
	routes []*route // the deployments, by index
	policy policy
	now    func() time.Time
	chain  []*pool // this model, then its fallbacks in order
	budget *budget

	retries   prometheus.Counter
	exhausted prometheus.Counter
}

// route is one deployment of a model: what an attempt is sent to, with its guard, its load and
// pre-resolved metric children.
type route struct {
	// model is the public model as configured, with Provider and UpstreamModel this deployment's.
	model      config.Model
	deployment string // its name, a metric label and span attribute
	index      int    // in its pool
	weight     int
	priority   int
	quotedName []byte // the model name as a JSON string, patched into raw answers
	firstSpan  struct {
		op    string
		start telemetry.SpanStart
	}
	provider provider.Provider
	server   []attribute.KeyValue // server.address, server.port and url.full of the upstream
	guard    *guard
	load     *load

	upstreamDur prometheus.Observer
}

type metrics struct {
	upstreamDur *prometheus.HistogramVec
	retries     *prometheus.CounterVec
	exhausted   *prometheus.CounterVec
	fallbacks   *prometheus.CounterVec
	state       *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	// Per deployment: the labels come from the configuration only.
	requests  *prometheus.CounterVec
	latency   *prometheus.GaugeVec
	inFlight  *prometheus.GaugeVec
	cooldowns *prometheus.CounterVec
}

// newMetrics registers the gateway's metrics.
func newMetrics(reg prometheus.Registerer) *metrics {
	deployment := []string{"model", "deployment"}
	m := &metrics{
		upstreamDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "upstream_request_duration_seconds",
			Help:    "Duration of one upstream attempt (streams: until response headers).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"provider", "model"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "upstream_retries_total", Help: "Upstream attempts after the first, per model.",
		}, []string{"provider", "model"}),
		exhausted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "upstream_retry_budget_exhausted_total", Help: "Retries skipped because the retry budget was spent.",
		}, []string{"provider", "model"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "upstream_fallbacks_total", Help: "Requests handed to a fallback model after the primary failed.",
		}, []string{"model", "fallback"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "circuit_breaker_state", Help: "Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open.",
		}, []string{"provider", "model", "deployment"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "circuit_breaker_transitions_total", Help: "Circuit breaker state changes.",
		}, []string{"provider", "model", "deployment", "to"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deployment_requests_total", Help: "Upstream attempts per deployment, by outcome.",
		}, []string{"model", "deployment", "outcome"}),
		latency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "deployment_latency_ewma_seconds", Help: "Peak-EWMA upstream latency per deployment, as of its last answer.",
		}, deployment),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "deployment_in_flight", Help: "Upstream attempts in flight per deployment (open streams included).",
		}, deployment),
		cooldowns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deployment_cooldowns_total", Help: "Times an upstream's 429 with Retry-After took a deployment out of the rotation.",
		}, deployment),
	}
	reg.MustRegister(m.upstreamDur, m.retries, m.exhausted, m.fallbacks, m.state, m.transitions,
		m.requests, m.latency, m.inFlight, m.cooldowns)
	return m
}

// New builds the gateway and registers its metrics.
func New(d Deps) (*Gateway, error) {
	m := newMetrics(d.Registry)

	o := d.Options
	g := &Gateway{
		cfg: o.Resilience, record: o.RecordContent,
		prices: d.Prices, cost: d.Cost, tracer: d.Tracer, log: d.Log,
		routes: map[string]*pool{}, m: m, jitter: rand.Float64, sleep: sleep,
	}
	g.firstToken, g.idle = o.StreamFirstToken, o.StreamIdle
	slots := newSlots(o.Resilience.MaxInFlight, o.Resilience.MaxStreams)
	for _, mc := range o.Models {
		p, err := newPool(mc, d.Providers, o.Resilience, slots, m, d.Log)
		if err != nil {
			return nil, err
		}
		g.routes[mc.Name] = p
	}
	for _, p := range g.routes {
		p.chain = []*pool{p}
		for _, fb := range p.model.Fallbacks {
			p.chain = append(p.chain, g.routes[fb])
		}
	}
	return g, nil
}

// newPool builds one model's pool: a route per deployment and the model's policy.
func newPool(mc config.Model, providers map[string]provider.Provider, rc config.Resilience, slots *slots, m *metrics, log *slog.Logger) (*pool, error) {
	targets := mc.Targets()
	if len(targets) > maxDeployments {
		return nil, fmt.Errorf("model %q: %d deployments, at most %d", mc.Name, len(targets), maxDeployments)
	}
	pol, err := newPolicy(mc.Policy, len(targets), rand.IntN)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", mc.Name, err)
	}
	owner := mc.Owner()
	pl := &pool{model: mc, policy: pol, now: time.Now, budget: newBudget(rc.RetryBudgetRatio, rc.RetryBudgetMin),
		retries: m.retries.WithLabelValues(owner, mc.Name), exhausted: m.exhausted.WithLabelValues(owner, mc.Name)}
	decay := mc.LatencyDecay.D()
	if decay <= 0 {
		decay = defaultDecay
	}
	for i, t := range targets {
		p, ok := providers[t.Provider]
		if !ok {
			return nil, fmt.Errorf("model %q: provider %q is not available", mc.Name, t.Provider)
		}
		if _, ok := p.(provider.Embedder); mc.Kind == "embedding" && !ok {
			return nil, fmt.Errorf("model %q: provider %q does not serve embeddings", mc.Name, t.Provider)
		}
		r := newRoute(mc, t, p, rc, slots, m, log)
		r.index, r.load.decay = i, decay
		pl.routes = append(pl.routes, r)
	}
	return pl, nil
}

// newRoute builds one deployment's route: its guard, its load, its first attempt span and its
// metric children.
func newRoute(mc config.Model, t config.Deployment, p provider.Provider, rc config.Resilience, slots *slots, m *metrics, log *slog.Logger) *route {
	quoted, _ := json.Marshal(mc.Name)
	mc.Provider, mc.UpstreamModel, mc.Deployments = t.Provider, t.Upstream(mc.Name), nil
	weight := 1 // a validated config always has one
	if t.Weight != nil {
		weight = *t.Weight
	}
	r := &route{
		model: mc, deployment: t.Name, weight: weight, priority: t.Priority, provider: p, quotedName: quoted,
		upstreamDur: m.upstreamDur.WithLabelValues(p.Name(), mc.Name),
		guard: newGuard(guardOpts{
			failures: rc.BreakerFailures, cooldown: rc.BreakerCooldown.D(), slots: slots,
			state: m.state.WithLabelValues(p.Name(), mc.Name, t.Name), transitions: m.transitions, log: log,
			provider: p.Name(), model: mc.Name, deployment: t.Name,
		}),
		load: &load{rpm: perMinute(t.RPM), tpm: perMinute(t.TPM),
			inFlight: m.inFlight.WithLabelValues(mc.Name, t.Name), latency: m.latency.WithLabelValues(mc.Name, t.Name),
			cooldowns: m.cooldowns.WithLabelValues(mc.Name, t.Name)},
	}
	op, upstreamOp := "chat", "chat"
	if mc.Kind == "image" {
		op, upstreamOp = "generate_content", "images"
	}
	if e, ok := p.(provider.Embedder); ok && mc.Kind == "embedding" {
		op = opEmbeddings
		r.server = serverAttrs(e.EmbeddingsURL())
	} else {
		r.server = serverAttrs(p.URL(upstreamOp))
	}
	r.firstSpan.start = r.spanStart(op, 1)
	r.firstSpan.op = op // from here on spanStart returns the cached start
	return r
}

// resolve finds the pool of a public model name of the wanted kind, and starts its Call.
func (g *Gateway) resolve(model, kind string) (*pool, *Call, error) {
	call := &Call{Spend: cost.Spend{Model: model}}
	p, ok := g.routes[model]
	if !ok {
		err := &apperr.Error{Kind: apperr.NotFound, Code: "model_not_found", Param: "model",
			Message: fmt.Sprintf("The model %q does not exist or you do not have access to it.", apperr.Excerpt(model))}
		return nil, call, call.fail(ofKind(err, NoVerdict))
	}
	if p.model.Kind != kind {
		err := &apperr.Error{Kind: apperr.InvalidRequest, Code: "model_not_supported", Param: "model",
			Message: fmt.Sprintf("The model %q is a %s model and cannot serve this request.", apperr.Excerpt(model), p.model.Kind)}
		return nil, call, call.fail(ofKind(err, NoVerdict))
	}
	call.Provider = p.routes[0].provider.Name()
	return p, call, nil
}

// fail records the failure on the call and returns the client's error.
func (c *Call) fail(f Failure) error {
	c.Failure = f
	if f.Err == nil {
		return nil
	}
	return f.Err
}

// attempt is one admitted try of one route: its CLIENT span, its permit and when it began.
type attempt struct {
	ctx    context.Context // carries the span
	r      *route
	span   trace.Span
	permit permit
	start  time.Time
}

// send is how every request is tried: for each model of the chain (the primary, then its
// fallbacks), pick a deployment (one this request has not tried, while there is one), acquire
// its permit (breaker, a slot of its budget), try, classify the outcome, then retry — on
// another deployment when one is healthy, else the same after a backoff —, move to the next
// model, or stop. try gets the attempt's context, its deployment and its span.
// When keep is set (a stream), the attempt takes a stream slot instead of an in-flight one, and
// a successful one keeps its slot and open span: the caller owns them from then on and hands
// them back with end.
func send[T any](ctx context.Context, g *Gateway, call *Call, primary *pool, op string, keep bool,
	try func(context.Context, *route, trace.Span) (T, error)) (T, attempt, error) {
	var zero T
	var f Failure
	var last error
	for i, p := range primary.chain {
		if i > 0 {
			g.m.fallbacks.WithLabelValues(primary.model.Name, p.model.Name).Inc()
			g.log.InfoContext(ctx, "falling back to another model", "model", primary.model.Name, "fallback", p.model.Name, "error", last)
		}
		// Until a deployment is picked, the call names the model's first one (a refusal before
		// any attempt still says which upstream it was for).
		call.Provider, call.Model, call.UpstreamModel = p.routes[0].provider.Name(), p.model.Name, p.routes[0].model.Upstream()
		p.budget.deposit()
		var tried mask
		for n := 0; ; n++ {
			a, err := g.admit(ctx, p, tried, op, n+1, keep)
			if err != nil {
				last, f = err, Classify(ctx, err)
				break
			}
			r := a.r
			call.Provider, call.UpstreamModel = r.provider.Name(), r.model.Upstream()
			v, err := try(a.ctx, r, a.span)
			last, f = err, Classify(ctx, err)
			g.finish(call, a, f, keep)
			if err == nil {
				call.Served, call.load = true, r.load
				return v, a, nil
			}
			tried = tried.with(r.index)
			if !g.again(ctx, p, n, f, p.spare(tried)) {
				break
			}
		}
		if ctx.Err() != nil {
			f = Classify(ctx, last) // the wait for a retry ended with the request
		}
		if !f.Fallback {
			break
		}
	}
	return zero, attempt{}, call.fail(f)
}

// admit picks a deployment of the pool and acquires its permit. A breaker that refuses when
// asked (its state changed since the pick, or a half-open one busy with its probe) takes that
// deployment out for this attempt; a full gateway-wide budget refuses at once.
func (g *Gateway) admit(ctx context.Context, p *pool, tried mask, op string, n int, keep bool) (attempt, error) {
	var refused mask
	for {
		r, err := p.pick(tried, refused)
		if err != nil {
			return attempt{}, err
		}
		perm, err := r.guard.acquire(p.model.Name, keep)
		if errors.Is(err, errCircuitOpen) {
			refused = refused.with(r.index)
			continue
		}
		if err != nil {
			return attempt{}, err
		}
		return g.begin(ctx, r, op, n, perm), nil
	}
}

// begin opens an admitted attempt's span and counts it in flight.
func (g *Gateway) begin(ctx context.Context, r *route, op string, n int, p permit) attempt {
	ctx, span := r.spanStart(op, n).Start(ctx, g.tracer)
	r.load.enter()
	return attempt{ctx: ctx, r: r, span: span, permit: p, start: time.Now()}
}

// finish records a tried attempt: its duration, its outcome, the breaker's verdict, the
// deployment's latency or cooldown, and (unless a successful one is kept open) its slot and span.
func (g *Gateway) finish(call *Call, a attempt, f Failure, keep bool) {
	now := time.Now()
	elapsed := now.Sub(a.start)
	a.r.upstreamDur.Observe(elapsed.Seconds())
	call.Upstream += elapsed
	call.Attempts++
	g.cost.RecordAPICall(a.r.provider.Name(), a.r.model.Name, f.Outcome)
	g.m.requests.WithLabelValues(a.r.model.Name, a.r.deployment, f.Outcome).Inc()
	a.permit.judge(f.Verdict)
	switch {
	case f.Verdict == Healthy:
		a.r.load.observe(elapsed, now)
	case f.Verdict == Failing:
		a.r.load.observe(max(elapsed, failureLatency), now)
	case f.Cooldown > 0:
		a.r.load.cool(now, f.Cooldown)
		g.log.InfoContext(a.ctx, "deployment rate limited: out of the rotation", "model", a.r.model.Name,
			"deployment", a.r.deployment, "for", f.Cooldown)
	}
	if f.Err != nil {
		markFailed(a.span, f)
		a.end()
		return
	}
	if !keep {
		a.end()
	}
}

// end frees the attempt's slot and ends its span.
func (a attempt) end() {
	a.r.load.leave()
	a.permit.release()
	a.span.End()
}

// again decides whether to try once more, and waits the backoff when the same deployment is
// next (elsewhere: another healthy one is, which needs no wait): the failure must be
// retryable, retries left, the budget not spent and the deadline far enough.
func (g *Gateway) again(ctx context.Context, p *pool, n int, f Failure, elsewhere bool) bool {
	if !f.Retry || n >= g.cfg.MaxRetries {
		return false
	}
	var delay time.Duration
	if !elsewhere {
		delay = g.backoff(n, f.RetryAfter)
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= delay {
		return false
	}
	if !p.budget.withdraw() {
		p.exhausted.Inc()
		return false
	}
	p.retries.Inc()
	g.log.DebugContext(ctx, "retrying upstream", "model", p.model.Name, "attempt", n+2, "delay", delay,
		"elsewhere", elsewhere, "error", f.Err)
	if delay == 0 {
		return ctx.Err() == nil
	}
	return g.sleep(ctx, delay)
}

// backoff is exponential with jitter in [d/2, d], at least what the upstream asked for.
func (g *Gateway) backoff(n int, retryAfter time.Duration) time.Duration {
	d := g.cfg.BackoffBase.D() << n
	if d > g.cfg.BackoffMax.D() || d <= 0 {
		d = g.cfg.BackoffMax.D()
	}
	d = d/2 + time.Duration(g.jitter()*float64(d/2))
	return max(d, retryAfter)
}

// sleep waits d, or less when ctx ends first (then false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// spanStart is how an attempt's CLIENT span starts. The first attempt's is
// built once per route: it is the same for every request.
func (r *route) spanStart(op string, attempt int) telemetry.SpanStart {
	if attempt == 1 && op == r.firstSpan.op {
		return r.firstSpan.start
	}
	attrs := append([]attribute.KeyValue{
		attribute.String("gen_ai.operation.name", op),
		attribute.String("gen_ai.provider.name", r.provider.System()),
		attribute.String("gen_ai.request.model", r.model.Name),
		attribute.String("aiservice.deployment", r.deployment),
		attribute.Int("aiservice.attempt", attempt),
	}, r.server...)
	return telemetry.NewSpanStart(op+" "+r.model.Name, trace.SpanKindClient, attrs)
}

// serverAttrs are the upstream's address attributes of a CLIENT span. url.full never carries
// credentials or the query: a base URL may hold a key in either.
func serverAttrs(raw string) []attribute.KeyValue {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	attrs := []attribute.KeyValue{attribute.String("server.address", u.Hostname()), attribute.String("url.full", u.String())}
	if n, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int("server.port", n))
	}
	return attrs
}

// markFailed sets a span's error status and error.type from a classified failure.
func markFailed(span trace.Span, f Failure) {
	span.SetAttributes(attribute.String("error.type", f.Type))
	span.SetStatus(codes.Error, f.Err.Error())
}
