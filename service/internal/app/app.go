// Package app wires the service together from a configuration: telemetry, the metric registry,
// the in-process simulator when a provider uses it, providers, the gateway, agents and the HTTP
// handler. cmd/aiservice and the HTTP tests build the service the same way through it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/semaphore"

	"aiservice/service/internal/agent"
	"aiservice/service/internal/api"
	"aiservice/service/internal/cache"
	"aiservice/service/internal/config"
	"aiservice/service/internal/convo"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/gateway"
	"aiservice/service/internal/keys"
	"aiservice/service/internal/limits"
	"aiservice/service/internal/pressure"
	"aiservice/service/internal/provider"
	"aiservice/service/internal/sim"
	"aiservice/service/internal/store"
	"aiservice/service/internal/telemetry"
	"aiservice/service/internal/translate"
)

// App is a wired service, not yet listening.
type App struct {
	Handler  http.Handler
	Ready    *atomic.Bool
	Tracing  *telemetry.Tracing
	Registry *prometheus.Registry
	// Store is the state shared across replicas (in the process, or Redis with store.url)
	// behind its guard: the limiter's, and bytes with a TTL for whatever must outlive a
	// request (the response cache with store.url; stored responses).
	Store *store.Guarded
	// Sim is the in-process simulator (nil when no provider uses it); SimURL its base URL.
	Sim    *sim.Server
	SimURL string

	simServer *http.Server
	upstreams []interface{ CloseIdle() } // their idle pooled connections are dropped at Close
	redis     *store.Redis               // the shared limit store, when store.url is set
}

// Options carry what is not in the configuration.
type Options struct {
	Version string
	Getenv  func(string) string
	Log     *slog.Logger
}

// New builds the service from a validated configuration.
func New(ctx context.Context, cfg *config.Config, o Options) (*App, error) {
	log := o.Log
	tracing, err := telemetry.Setup(ctx, telemetry.Options{
		ServiceName: cfg.Telemetry.ServiceName, Version: o.Version, Env: cfg.Env,
		SampleRatio: cfg.Telemetry.SampleRatio, OTLPEndpoint: cfg.Telemetry.OTLPEndpoint, Getenv: o.Getenv,
		TrustIncomingSampling: cfg.Telemetry.TrustIncomingSampling, PropagateBaggage: cfg.Telemetry.PropagateBaggage,
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	a := &App{Tracing: tracing, Ready: &atomic.Bool{}, Registry: prometheus.NewRegistry()}
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	providers := map[string]provider.Provider{}
	buffers := semaphore.NewWeighted(cfg.Upstream.MaxBufferedBytes) // one bound for all providers
	for _, p := range cfg.Providers {
		pc := provider.OpenAIConfig{
			Name: p.Name, System: "openai", BaseURL: p.BaseURL, APIKey: string(p.APIKey),
			ConnectTimeout: cfg.Upstream.ConnectTimeout.D(), ResponseHeaderTimeout: cfg.Upstream.ResponseHeaderTimeout.D(),
			MaxIdleConnsPerHost: cfg.Upstream.MaxIdleConnsPerHost, IdleConnTimeout: cfg.Upstream.IdleConnTimeout.D(),
			Propagator:       tracing.Propagator,
			MaxResponseBytes: cfg.Upstream.MaxResponseBytes, Buffers: buffers, MaxRetryAfter: cfg.Upstream.MaxRetryAfter.D(),
			Translate: translate.Options{DropUnsupported: p.DropUnsupported},
			Responses: p.API == "responses",
		}
		if p.Type == "sim" {
			// The built-in simulator is a real HTTP server on loopback, reached like any upstream.
			if a.simServer == nil {
				if err := a.startSim(cfg.Simulator, log); err != nil {
					return nil, err
				}
			}
			pc.System, pc.BaseURL = "sim", a.SimURL+"/v1"
		}
		if p.Speaks() == "anthropic" {
			if p.Type == "anthropic" {
				pc.System = "anthropic"
			}
			up := provider.NewAnthropic(provider.AnthropicConfig{OpenAIConfig: pc, Version: p.Version()})
			providers[p.Name], a.upstreams = up, append(a.upstreams, up)
			continue
		}
		up := provider.NewOpenAI(pc)
		providers[p.Name], a.upstreams = up, append(a.upstreams, up)
	}

	models := make([]string, 0, len(cfg.Models))
	for _, m := range cfg.Models {
		models = append(models, m.Name)
	}
	spend := cost.NewTracker(a.Registry, models, log)
	prices := cost.NewTable(cfg.Prices)
	registry, policy, shared, err := a.limits(cfg, o, prices)
	if err != nil {
		return nil, errors.Join(err, a.Close(ctx))
	}
	gw, err := gateway.New(gateway.Deps{Options: gateway.OptionsFrom(cfg), Providers: providers, Prices: prices,
		Cost: spend, Registry: a.Registry, Tracer: tracing.Tracer(), Log: log})
	if err != nil {
		return nil, errors.Join(err, a.Close(ctx))
	}
	a.Handler = api.NewServer(api.Deps{
		Options: api.OptionsFrom(cfg), Gateway: gw, Agents: agent.NewRunner(cfg.Agents, gw, tracing.Tracer(), time.Now), Cost: spend,
		Registry: a.Registry, Tracer: tracing.Tracer(), Propagator: tracing.Propagator, Log: log, Ready: a.Ready,
		Pressure:  pressure.New(pressure.Options{Registry: a.Registry, Log: log}),
		Responses: gateway.NewResponder(gw, convo.NewLog(responseStore(cfg, shared), cfg.Responses.StoreTTL.D()), time.Now, cfg.Upstream.MaxResponseBytes),
		Keys:      registry, Limits: policy, Cache: responseCache(cfg, o, shared, a.Registry),
	})
	return a, nil
}

// limits builds the client keys, the limit store (in the process, or Redis behind its guard)
// and the policy that admits every request of a limited key.
func (a *App) limits(cfg *config.Config, o Options, prices *cost.Table) (*keys.Registry, *limits.Policy, store.Bytes, error) {
	registry, err := keys.New(cfg.APIKeys, cfg.Keys, o.Getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	// The in-process store never fails, but behind the same guard it reports the same store_*
	// metrics, so dashboards and alerts read one set whatever the store.
	var inner store.Store = store.NewMemory(time.Now)
	if url := string(cfg.Store.URL); url != "" {
		connect := store.NewRedis
		if cfg.Store.Cluster {
			connect = store.NewRedisCluster
		}
		if a.redis, err = connect(url, cfg.Store.Timeout.D()); err != nil {
			return nil, nil, nil, err
		}
		inner = a.redis
	}
	mode := store.FailOpen
	if cfg.Store.FailureMode == "fail_closed" {
		mode = store.FailClosed
	}
	a.Store = store.NewGuarded(inner, store.GuardOptions{Timeout: cfg.Store.Timeout.D(), Mode: mode, Replicas: cfg.Store.Replicas,
		BreakerFailures: cfg.Store.BreakerFailures, BreakerCooldown: cfg.Store.BreakerCooldown.D(), Registry: a.Registry,
		Log: o.Log.With("component", "store"), Clock: time.Now})
	var shared store.Bytes
	if a.redis != nil {
		shared = a.Store
	}
	return registry, limits.New(limits.Options{Store: a.Store, Prices: prices, MaxOutputTokens: cfg.Limits.MaxOutputTokens,
		CutStreams: cfg.Limits.StreamOverBudget == "cut", Clock: time.Now, Registry: a.Registry, Keys: registry.Names(),
		Log: o.Log, SettleTimeout: cfg.Store.Timeout.D()}), shared, nil
}

// responseStore keeps the Responses API's stored responses: in the shared store when there is
// one (any replica reads what another stored), else in a bounded memory store.
func responseStore(cfg *config.Config, shared store.Bytes) convo.Store {
	if shared != nil {
		return convo.Shared(shared, "aisvc:")
	}
	return convo.NewMemory(cfg.Responses.StoreMaxEntries, cfg.Responses.StoreMaxBytes, time.Now)
}

// responseCache is the response cache: in the shared store when there is one, else in the
// process (an LRU of cache.max_bytes).
func responseCache(cfg *config.Config, o Options, shared store.Bytes, reg prometheus.Registerer) *cache.Cache {
	return cache.New(cache.Options{Store: shared, TTL: cfg.Cache.TTL.D(), MaxBytes: cfg.Cache.MaxBytes,
		ToolCalls: cfg.Cache.ToolCalls, AnyTemperature: cfg.Cache.AnyTemperature, Registry: reg,
		Log: o.Log.With("component", "cache"), Clock: time.Now})
}

func (a *App) startSim(s config.Simulator, log *slog.Logger) error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("simulator listen: %w", err)
	}
	a.Sim = sim.New(SimBehaviour(s), "", log.With("component", "sim"))
	handler := a.Sim.WithoutControl()
	if s.FaultInjection { // tests and demos change the upstream's behaviour at run time
		handler = a.Sim
	}
	a.simServer = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.simServer.Serve(ln) }()
	a.SimURL = "http://" + ln.Addr().String()
	log.Info("built-in simulator listening", "addr", ln.Addr().String())
	return nil
}

// SimBehaviour converts the configured simulator behaviour.
func SimBehaviour(s config.Simulator) sim.Behaviour {
	return sim.Behaviour{
		Latency: sim.Duration(s.Latency), TimeToFirstToken: sim.Duration(s.TimeToFirstToken),
		InterTokenDelay: sim.Duration(s.InterTokenDelay), Chunks: s.Chunks, ErrorRate: s.ErrorRate,
		ErrorStatus: s.ErrorStatus, RetryAfter: sim.Duration(s.RetryAfter),
	}
}

// Close drops the upstreams' idle connections, stops the in-process simulator and flushes
// telemetry.
func (a *App) Close(ctx context.Context) error {
	for _, up := range a.upstreams {
		up.CloseIdle()
	}
	var errs []error
	if a.simServer != nil {
		// By now the gateway has drained, so nothing needs the simulator; Shutdown would wait
		// on idle pooled connections instead.
		errs = append(errs, a.simServer.Close())
	}
	if a.redis != nil {
		errs = append(errs, a.redis.Close())
	}
	errs = append(errs, a.Tracing.Shutdown(ctx))
	return errors.Join(errs...)
}
