// Command aiservice is the AI gateway. Subcommands: serve (default), sim (the OpenAI-compatible
// simulator alone), config (print the effective configuration), version.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // the clock tool's time zones, also in a distroless image

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"aiservice/service/internal/api"
	"aiservice/service/internal/app"
	"aiservice/service/internal/config"
	"aiservice/service/internal/gctune"
	"aiservice/service/internal/pressure"
	"aiservice/service/internal/shutdown"
	"aiservice/service/internal/sim"
	"aiservice/service/internal/telemetry"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// Gin's debug mode lists routes and warnings on stdout, which holds the JSON logs.
	gin.SetMode(gin.ReleaseMode)
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "aiservice:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout)
	case "sim":
		return runSim(ctx, args, stdout)
	case "config":
		return printConfig(args, getenv, stdout)
	case "version":
		_, err := fmt.Fprintln(stdout, version)
		return err
	case "help", "-h", "--help":
		return help(stdout)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

const usage = `usage: aiservice [command] [flags]

commands:
  serve    start the gateway (default); its flags below (also in the README)
  sim      start the OpenAI-compatible simulator alone; aiservice sim --help
  config   print the effective configuration as JSON (secrets redacted); --env lists environment variables
  version  print the version
`

// help writes the usage and serve's flags, which come from the config's one table of settings.
func help(w io.Writer) error {
	if _, err := fmt.Fprint(w, usage+"\nserve flags:\n"); err != nil {
		return err
	}
	config.Flags(w)
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})))
}

func printConfig(args []string, getenv func(string) string, stdout io.Writer) error {
	env := false
	rest := args[:0:0]
	for _, a := range args {
		if a == "--env" || a == "-env" {
			env = true
			continue
		}
		rest = append(rest, a)
	}
	cfg, err := config.Load(rest, getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if env {
		_, err := fmt.Fprintln(stdout, strings.Join(cfg.EnvVars(), "\n"))
		return err
	}
	// The sampler comes from the config and OTEL_TRACES_SAMPLER(_ARG): resolve it here too, so
	// a bad value fails `aiservice config` as it would fail the start.
	sampler, err := telemetry.Sampler(cfg.Env, cfg.Telemetry.SampleRatio, cfg.Telemetry.TrustIncomingSampling, getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	out := struct {
		*config.Config
		Effective struct {
			Sampler string `json:"sampler"`
		} `json:"effective"`
	}{Config: cfg}
	out.Effective.Sampler = sampler.Description()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// serve runs the gateway until ctx ends or SIGINT/SIGTERM arrives, then drains.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return help(stdout)
	}
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	gc := gctune.Apply(getenv, os.ReadFile)
	go gctune.Adapt(ctx, gc, time.Second, gctune.Scanned, debug.SetGCPercent)
	logw := telemetry.NewLogWriter(stdout, 100*time.Millisecond)
	defer logw.Close()
	log := newLogger(logw, cfg.LogLevel)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	a, err := app.New(ctx, cfg, app.Options{Version: version, Getenv: getenv, Log: log})
	if err != nil {
		return err
	}

	conns := shutdown.NewConns()
	base, endAll := context.WithCancelCause(context.Background())
	defer endAll(nil)
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(),
		IdleTimeout:       cfg.Server.IdleTimeout.D(),
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnState:         conns.Track,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	ln = pressure.NewFDGuard(ln, a.Registry) // out of descriptors, new connections get a 503
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if cfg.DebugAddr != "" {
		go serveDebug(cfg.DebugAddr, log)
	}
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen on %s (metrics_addr): %w", cfg.MetricsAddr, err)
		}
		go serveMetrics(mln, a.Registry, log)
	}
	a.Ready.Store(true)
	log.Info("aiservice listening", "addr", ln.Addr().String(), "env", cfg.Env, "version", version,
		"tracing_export", a.Tracing.Exporting, "api_keys", len(cfg.APIKeys) > 0,
		"gc", gc)
	_ = logw.Flush() // whoever waits for "listening" should not wait for the flush interval

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case s := <-sigs:
		log.Info("shutdown: signal received", "signal", s.String())
	case <-ctx.Done():
		log.Info("shutdown: context ended")
	}
	force := make(chan struct{})
	go func() {
		if _, ok := <-sigs; ok {
			close(force)
		}
	}()
	return shutdown.Plan{
		Server: srv, Conns: conns, Ready: a.Ready, Log: log,
		PreDrainDelay: cfg.Shutdown.PreDrainDelay.D(), GracePeriod: cfg.Shutdown.GracePeriod.D(),
		EndRemaining: func() { endAll(api.ErrShutdown) },
		Flush:        []func(context.Context) error{a.Close},
	}.Run(force)
}

// serveDebug serves pprof on its own listener (off by default: it exposes internals).
func serveDebug(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("debug listener (pprof)", "addr", addr)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("debug listener failed", "error", err)
	}
}

// serveMetrics serves /metrics alone on its own listener (metrics_addr): the metrics name every
// model, which the API keeps behind its keys, so a cluster scrapes them on a port it does not
// expose.
func serveMetrics(ln net.Listener, reg *prometheus.Registry, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	log.Info("metrics listener", "addr", ln.Addr().String())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics listener failed", "error", err)
	}
}

// runSim runs the simulator alone, for chaos, contract and load tests.
func runSim(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("aiservice sim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address (port 0 picks a free port)")
	apiKey := fs.String("api-key", "", "require this Bearer key on /v1/*")
	latency := fs.Duration("latency", 0, "delay before response headers")
	ttft := fs.Duration("ttft", 0, "streams: delay before the first token")
	itd := fs.Duration("inter-token-delay", 0, "streams: delay between chunks")
	chunks := fs.Int("chunks", 8, "streams: content chunks per reply")
	errRate := fs.Float64("error-rate", 0, "fraction of requests answered with --error-status")
	errStatus := fs.Int("error-status", 503, "status of injected errors")
	retryAfter := fs.Duration("retry-after", 0, "Retry-After sent with injected errors")
	failNext := fs.Int("fail-next", 0, "fail the next N requests")
	omitUsage := fs.Bool("omit-usage", false, "never report usage")
	chatOnly := fs.Bool("chat-only", false, "no Responses API: /v1/responses answers 404, as Ollama or vLLM")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *errRate < 0 || *errRate > 1 || *errStatus < 400 || *errStatus > 599 || *chunks < 1 {
		return errors.New("sim: --error-rate in [0,1], --error-status 400-599, --chunks >= 1")
	}
	log := newLogger(stdout, *logLevel)
	s := sim.New(sim.Behaviour{
		Latency: sim.Duration(*latency), TimeToFirstToken: sim.Duration(*ttft), InterTokenDelay: sim.Duration(*itd),
		Chunks: *chunks, ErrorRate: *errRate, ErrorStatus: *errStatus, RetryAfter: sim.Duration(*retryAfter),
		FailNext: *failNext, OmitUsage: *omitUsage, ChatOnly: *chatOnly,
	}, *apiKey, log)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sim listen: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("simulator listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
