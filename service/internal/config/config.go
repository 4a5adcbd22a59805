// Package config is the service's one typed configuration: embedded defaults, then an optional
// YAML file, then environment variables, then flags. Validate names the offending field, so a
// bad config fails at start with a message an operator can act on.
package config

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// Config is the whole service configuration.
type Config struct {
	Addr         string `yaml:"addr" json:"addr"`
	Env          string `yaml:"env" json:"env"`
	LogLevel     string `yaml:"log_level" json:"log_level"`
	MaxBodyBytes int64  `yaml:"max_body_bytes" json:"max_body_bytes"`
	DefaultModel string `yaml:"default_model" json:"default_model"`
	// DebugAddr, when set, serves pprof on a separate listener (off by default).
	DebugAddr string `yaml:"debug_addr" json:"debug_addr"`
	// APIKeys, when non-empty, are required as `Authorization: Bearer KEY` on /v1/*.
	APIKeys Secrets `yaml:"api_keys" json:"api_keys"`

	Timeouts   Timeouts         `yaml:"timeouts" json:"timeouts"`
	Shutdown   Shutdown         `yaml:"shutdown" json:"shutdown"`
	Server     Server           `yaml:"server" json:"server"`
	Upstream   Upstream         `yaml:"upstream" json:"upstream"`
	Resilience Resilience       `yaml:"resilience" json:"resilience"`
	Telemetry  Telemetry        `yaml:"telemetry" json:"telemetry"`
	SLO        SLO              `yaml:"slo" json:"slo"`
	Providers  []Provider       `yaml:"providers" json:"providers"`
	Models     []Model          `yaml:"models" json:"models"`
	Agents     []Agent          `yaml:"agents" json:"agents"`
	Simulator  Simulator        `yaml:"simulator" json:"simulator"`
	Prices     map[string]Price `yaml:"prices" json:"prices"`
	// MetricsAddr, when set, serves /metrics on its own listener and not on addr: the metrics
	// name every model, which /v1/models keeps behind the API keys.
	MetricsAddr string `yaml:"metrics_addr" json:"metrics_addr"`
	// Keys are virtual keys with limits and budgets (config/keys.go), Limits their shared
	// settings, Store where their state lives.
	Keys   []VirtualKey `yaml:"keys" json:"keys"`
	Limits Limits       `yaml:"limits" json:"limits"`
	Store  Store        `yaml:"store" json:"store"`
	Cache  Cache        `yaml:"cache" json:"cache"`
}

// Timeouts are the per-route deadlines and the two extra limits of streams.
type Timeouts struct {
	Chat             Duration `yaml:"chat" json:"chat"`
	Stream           Duration `yaml:"stream" json:"stream"`
	Images           Duration `yaml:"images" json:"images"`
	Agents           Duration `yaml:"agents" json:"agents"`
	Healthz          Duration `yaml:"healthz" json:"healthz"`
	Default          Duration `yaml:"default" json:"default"`
	StreamFirstToken Duration `yaml:"stream_first_token" json:"stream_first_token"`
	StreamIdle       Duration `yaml:"stream_idle" json:"stream_idle"`
	Embeddings       Duration `yaml:"embeddings" json:"embeddings"`
}

// Shutdown times the graceful drain.
type Shutdown struct {
	// PreDrainDelay keeps serving after readiness flips, so load balancers stop sending first.
	PreDrainDelay Duration `yaml:"pre_drain_delay" json:"pre_drain_delay"`
	// GracePeriod bounds how long in-flight requests and streams may take to finish.
	GracePeriod Duration `yaml:"grace_period" json:"grace_period"`
}

// Server holds HTTP server limits that protect against slow or idle clients.
type Server struct {
	ReadHeaderTimeout Duration `yaml:"read_header_timeout" json:"read_header_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout" json:"idle_timeout"`
}

// Upstream tunes the HTTP client used for every provider.
type Upstream struct {
	ConnectTimeout        Duration `yaml:"connect_timeout" json:"connect_timeout"`
	ResponseHeaderTimeout Duration `yaml:"response_header_timeout" json:"response_header_timeout"`
	MaxIdleConnsPerHost   int      `yaml:"max_idle_conns_per_host" json:"max_idle_conns_per_host"`
	IdleConnTimeout       Duration `yaml:"idle_conn_timeout" json:"idle_conn_timeout"`
	// MaxResponseBytes bounds one upstream answer; beyond it the request is a 502, not retried.
	MaxResponseBytes int64 `yaml:"max_response_bytes" json:"max_response_bytes"`
	// MaxBufferedBytes bounds what all the upstream answers being read may hold together.
	MaxBufferedBytes int64 `yaml:"max_buffered_bytes" json:"max_buffered_bytes"`
	// MaxRetryAfter clamps an upstream's Retry-After, honoured and passed on.
	MaxRetryAfter Duration `yaml:"max_retry_after" json:"max_retry_after"`
}

// Resilience configures retries, the retry budget, circuit breakers and load shedding.
type Resilience struct {
	MaxRetries       int      `yaml:"max_retries" json:"max_retries"`
	BackoffBase      Duration `yaml:"backoff_base" json:"backoff_base"`
	BackoffMax       Duration `yaml:"backoff_max" json:"backoff_max"`
	RetryBudgetRatio float64  `yaml:"retry_budget_ratio" json:"retry_budget_ratio"`
	RetryBudgetMin   float64  `yaml:"retry_budget_min" json:"retry_budget_min"`
	BreakerFailures  int      `yaml:"breaker_failures" json:"breaker_failures"`
	BreakerCooldown  Duration `yaml:"breaker_cooldown" json:"breaker_cooldown"`
	MaxInFlight      int      `yaml:"max_in_flight" json:"max_in_flight"`
	// MaxStreams caps the streams open across the gateway; MaxInFlight then caps unary calls
	// only. A held stream costs memory, not work, so it has a budget of its own.
	MaxStreams int `yaml:"max_streams" json:"max_streams"`
}

// Telemetry configures tracing.
type Telemetry struct {
	ServiceName  string `yaml:"service_name" json:"service_name"`
	OTLPEndpoint string `yaml:"otlp_endpoint" json:"otlp_endpoint"`
	// SampleRatio is the parent-based trace-id ratio; nil means 1 in development, 0.1 in production.
	SampleRatio   *float64 `yaml:"sample_ratio" json:"sample_ratio"`
	RecordContent bool     `yaml:"record_content" json:"record_content"`
	// TrustIncomingSampling lets a caller's traceparent sampled flag decide sampling; by
	// default its trace id is kept for correlation, but "sampled" does not force sampling
	// (our own ratio decides; "not sampled" is respected).
	TrustIncomingSampling bool `yaml:"trust_incoming_sampling" json:"trust_incoming_sampling"`
	// PropagateBaggage reads the W3C baggage header and forwards it upstream (off: a client's
	// baggage never reaches a third party).
	PropagateBaggage bool `yaml:"propagate_baggage" json:"propagate_baggage"`
}

// SLO holds the objectives the slo_* metrics publish.
type SLO struct {
	AvailabilityObjective float64             `yaml:"availability_objective" json:"availability_objective"`
	LatencyObjective      float64             `yaml:"latency_objective" json:"latency_objective"`
	LatencyThresholds     map[string]Duration `yaml:"latency_thresholds" json:"latency_thresholds"`
}

// Provider is an upstream: the built-in simulator or an OpenAI-compatible HTTP API.
type Provider struct {
	Name    string `yaml:"name" json:"name"`
	Type    string `yaml:"type" json:"type"` // "openai" or "sim"
	BaseURL string `yaml:"base_url" json:"base_url,omitempty"`
	APIKey  Secret `yaml:"api_key" json:"api_key,omitempty"`
	// APIKeyEnv names an environment variable holding the key, so keys stay out of files.
	APIKeyEnv string `yaml:"api_key_env" json:"api_key_env,omitempty"`
}

// Model routes a public model name to a provider.
type Model struct {
	Name          string   `yaml:"name" json:"name"`
	Provider      string   `yaml:"provider" json:"provider"`
	UpstreamModel string   `yaml:"upstream_model" json:"upstream_model,omitempty"`
	Kind          string   `yaml:"kind" json:"kind,omitempty"` // "chat" (default), "image" or "embedding"
	Fallbacks     []string `yaml:"fallbacks" json:"fallbacks,omitempty"`
}

// Upstream is the model name sent to the provider.
func (m Model) Upstream() string {
	if m.UpstreamModel != "" {
		return m.UpstreamModel
	}
	return m.Name
}

// Agent is a named tool-using assistant.
type Agent struct {
	ID           string   `yaml:"id" json:"id"`
	Description  string   `yaml:"description" json:"description"`
	Model        string   `yaml:"model" json:"model"`
	Tools        []string `yaml:"tools" json:"tools"`
	MaxSteps     int      `yaml:"max_steps" json:"max_steps"`
	SystemPrompt string   `yaml:"system_prompt" json:"system_prompt"`
	// MaxToolCalls caps the tool calls executed in one step; 0 means 16.
	MaxToolCalls int `yaml:"max_tool_calls" json:"max_tool_calls,omitempty"`
}

// Simulator is the behaviour of the in-process simulator (also the flags of `aiservice sim`).
type Simulator struct {
	Addr             string   `yaml:"addr" json:"addr"`
	Latency          Duration `yaml:"latency" json:"latency"`
	TimeToFirstToken Duration `yaml:"time_to_first_token" json:"time_to_first_token"`
	InterTokenDelay  Duration `yaml:"inter_token_delay" json:"inter_token_delay"`
	Chunks           int      `yaml:"chunks" json:"chunks"`
	ErrorRate        float64  `yaml:"error_rate" json:"error_rate"`
	ErrorStatus      int      `yaml:"error_status" json:"error_status"`
	RetryAfter       Duration `yaml:"retry_after" json:"retry_after"`
	// FaultInjection serves the built-in simulator's /_sim/* control endpoints (behaviour,
	// stats, reset); off, anyone on the host could make the gateway's upstream fail.
	FaultInjection bool `yaml:"fault_injection" json:"fault_injection"`
}

// Price is USD per 1M tokens, or per image keyed by "SIZE/QUALITY".
type Price struct {
	InputPer1M       float64            `yaml:"input_per_1m" json:"input_per_1m"`
	CachedInputPer1M float64            `yaml:"cached_input_per_1m" json:"cached_input_per_1m,omitempty"`
	OutputPer1M      float64            `yaml:"output_per_1m" json:"output_per_1m"`
	PerImage         map[string]float64 `yaml:"per_image" json:"per_image,omitempty"`
}

// Duration is a time.Duration written as "30s" in YAML and JSON.
type Duration time.Duration

// D is the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses Go duration strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30s or 500ms", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Secret is a string never printed: it marshals as "[redacted]" when set.
type Secret string

// MarshalJSON redacts.
func (s Secret) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte(`""`), nil
	}
	return []byte(`"[redacted]"`), nil
}

// String redacts, so a Secret in a log line or %v never leaks.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts under %#v too.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// Secrets is a list of secrets.
type Secrets []Secret

// Load builds the configuration from the embedded defaults, the YAML file named by --config or
// AISERVICE_CONFIG, the environment and the flags in args, then validates it.
func Load(args []string, getenv func(string) string) (*Config, error) {
	cfg, err := decode(defaultsYAML, "embedded defaults")
	if err != nil {
		return nil, err
	}
	fs, flags := newFlagSet()
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	path := flags.config
	if path == "" {
		path = getenv("AISERVICE_CONFIG")
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		if err := merge(cfg, b, path); err != nil {
			return nil, err
		}
	}
	if err := applyEnv(cfg, getenv); err != nil {
		return nil, err
	}
	var ferr error
	fs.Visit(func(f *flag.Flag) {
		if ferr == nil && f.Name != "config" {
			ferr = set(cfg, flagField[f.Name], f.Value.String(), "--"+f.Name)
		}
	})
	if ferr != nil {
		return nil, ferr
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse reads YAML over the embedded defaults without environment or flags, and validates.
// Tests and the fuzz target use it.
func Parse(b []byte) (*Config, error) {
	cfg, err := decode(defaultsYAML, "embedded defaults")
	if err != nil {
		return nil, err
	}
	if err := merge(cfg, b, "config"); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func decode(b []byte, name string) (*Config, error) {
	cfg := &Config{}
	if err := merge(cfg, b, name); err != nil {
		return nil, err
	}
	return cfg, nil
}

// merge decodes YAML onto cfg. Unknown fields are errors, so a typo is caught at start. Lists
// (providers, models, agents) replace the defaults; maps (prices, thresholds) are merged by key.
func merge(cfg *Config, b []byte, name string) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	prices := cfg.Prices
	thresholds := cfg.SLO.LatencyThresholds
	cfg.Prices, cfg.SLO.LatencyThresholds = nil, nil
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		cfg.Prices, cfg.SLO.LatencyThresholds = prices, thresholds
		return fmt.Errorf("%s: %w", name, err)
	}
	cfg.Prices = mergeMaps(prices, cfg.Prices)
	cfg.SLO.LatencyThresholds = mergeMaps(thresholds, cfg.SLO.LatencyThresholds)
	return nil
}

func mergeMaps[V any](base, over map[string]V) map[string]V {
	if base == nil && over == nil {
		return nil
	}
	out := make(map[string]V, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// envVars maps each supported environment variable to the field it sets.
var envVars = []struct{ name, field string }{
	{"AISERVICE_ADDR", "addr"},
	{"ENV", "env"},
	{"AISERVICE_LOG_LEVEL", "log_level"},
	{"AISERVICE_API_KEYS", "api_keys"},
	{"AISERVICE_MAX_BODY_BYTES", "max_body_bytes"},
	{"AISERVICE_DEFAULT_MODEL", "default_model"},
	{"AISERVICE_DEBUG_ADDR", "debug_addr"},
	{"AISERVICE_SHUTDOWN_GRACE_PERIOD", "shutdown.grace_period"},
	{"AISERVICE_SHUTDOWN_PRE_DRAIN_DELAY", "shutdown.pre_drain_delay"},
	{"AISERVICE_MAX_IN_FLIGHT", "resilience.max_in_flight"},
	{"AISERVICE_MAX_STREAMS", "resilience.max_streams"},
	{"OTLP_ENDPOINT", "telemetry.otlp_endpoint"},
	{"AISERVICE_RECORD_CONTENT", "telemetry.record_content"},
	{"OPENAI_BASE_URL", "providers.openai.base_url"},
}

// EnvVars lists every environment variable the service reads, including the ones read by
// libraries (OpenTelemetry) and the provider key variables named in the config.
func (c *Config) EnvVars() []string {
	names := []string{"AISERVICE_CONFIG"}
	for _, e := range envVars {
		names = append(names, e.name)
	}
	names = append(names, "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS")
	for _, p := range c.Providers {
		if p.APIKeyEnv != "" && !slices.Contains(names, p.APIKeyEnv) {
			names = append(names, p.APIKeyEnv)
		}
	}
	names = c.keyEnvVars(names)
	sort.Strings(names[1:])
	return names
}

func applyEnv(cfg *Config, getenv func(string) string) error {
	for _, e := range envVars {
		if v := getenv(e.name); v != "" {
			if err := set(cfg, e.field, v, e.name); err != nil {
				return err
			}
		}
	}
	// Provider keys come from the variable each provider names.
	for i := range cfg.Providers {
		if env := cfg.Providers[i].APIKeyEnv; env != "" && cfg.Providers[i].APIKey == "" {
			cfg.Providers[i].APIKey = Secret(getenv(env))
		}
	}
	return nil
}

type flagValues struct{ config string }

// flagField maps each flag to the field it sets.
var flagField = map[string]string{
	"addr":                "addr",
	"env":                 "env",
	"log-level":           "log_level",
	"api-keys":            "api_keys",
	"max-body-bytes":      "max_body_bytes",
	"default-model":       "default_model",
	"debug-addr":          "debug_addr",
	"grace-period":        "shutdown.grace_period",
	"pre-drain-delay":     "shutdown.pre_drain_delay",
	"max-in-flight":       "resilience.max_in_flight",
	"max-streams":         "resilience.max_streams",
	"otlp-endpoint":       "telemetry.otlp_endpoint",
	"metrics-addr":        "metrics_addr",
	"sim-fault-injection": "simulator.fault_injection",
}

func newFlagSet() (*flag.FlagSet, *flagValues) {
	fs := flag.NewFlagSet("aiservice serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	v := &flagValues{}
	fs.StringVar(&v.config, "config", "", "YAML config file (also AISERVICE_CONFIG)")
	for name, field := range flagField {
		fs.String(name, "", "sets "+field)
	}
	return fs, v
}

// set assigns one field from a string (env var or flag), naming the source on error.
func set(cfg *Config, field, v, source string) error {
	bad := func(err error) error { return fmt.Errorf("%s (%s): %w", source, field, err) }
	dur := func(d *Duration) error {
		x, err := time.ParseDuration(v)
		if err != nil {
			return bad(fmt.Errorf("%q is not a duration like 30s", v))
		}
		*d = Duration(x)
		return nil
	}
	integer := func(n *int) error {
		x, err := strconv.Atoi(v)
		if err != nil {
			return bad(fmt.Errorf("%q is not an integer", v))
		}
		*n = x
		return nil
	}
	switch field {
	case "addr":
		cfg.Addr = v
	case "env":
		cfg.Env = v
	case "log_level":
		cfg.LogLevel = v
	case "default_model":
		cfg.DefaultModel = v
	case "debug_addr":
		cfg.DebugAddr = v
	case "api_keys":
		cfg.APIKeys = nil
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				cfg.APIKeys = append(cfg.APIKeys, Secret(k))
			}
		}
	case "max_body_bytes":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return bad(fmt.Errorf("%q is not an integer", v))
		}
		cfg.MaxBodyBytes = n
	case "resilience.max_in_flight":
		return integer(&cfg.Resilience.MaxInFlight)
	case "resilience.max_streams":
		return integer(&cfg.Resilience.MaxStreams)
	case "shutdown.grace_period":
		return dur(&cfg.Shutdown.GracePeriod)
	case "shutdown.pre_drain_delay":
		return dur(&cfg.Shutdown.PreDrainDelay)
	case "telemetry.otlp_endpoint":
		cfg.Telemetry.OTLPEndpoint = v
	case "telemetry.record_content":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return bad(fmt.Errorf("%q is not true or false", v))
		}
		cfg.Telemetry.RecordContent = b
	case "metrics_addr":
		cfg.MetricsAddr = v
	case "simulator.fault_injection":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return bad(fmt.Errorf("%q is not true or false", v))
		}
		cfg.Simulator.FaultInjection = b
	case "providers.openai.base_url":
		for i := range cfg.Providers {
			if cfg.Providers[i].Name == "openai" {
				cfg.Providers[i].BaseURL = v
			}
		}
	default:
		return bad(errors.New("unknown setting"))
	}
	return nil
}

// Validate checks every field and names every bad one (joined), so one run shows them all. It
// also sets an empty model kind to chat: the fallback checks compare kinds.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr", "%q is not host:port", c.Addr)
	}
	if c.DebugAddr != "" {
		if _, _, err := net.SplitHostPort(c.DebugAddr); err != nil {
			bad("debug_addr", "%q is not host:port", c.DebugAddr)
		}
	}
	if c.Env != "development" && c.Env != "production" {
		bad("env", "must be development or production, not %q", c.Env)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		bad("log_level", "must be debug, info, warn or error, not %q", c.LogLevel)
	}
	if c.MaxBodyBytes < 1024 {
		bad("max_body_bytes", "must be at least 1024, got %d", c.MaxBodyBytes)
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{
		{"timeouts.chat", c.Timeouts.Chat}, {"timeouts.stream", c.Timeouts.Stream},
		{"timeouts.images", c.Timeouts.Images}, {"timeouts.agents", c.Timeouts.Agents},
		{"timeouts.healthz", c.Timeouts.Healthz}, {"timeouts.default", c.Timeouts.Default},
		{"timeouts.stream_first_token", c.Timeouts.StreamFirstToken}, {"timeouts.stream_idle", c.Timeouts.StreamIdle},
		{"timeouts.embeddings", c.Timeouts.Embeddings},
		{"shutdown.grace_period", c.Shutdown.GracePeriod},
		{"server.read_header_timeout", c.Server.ReadHeaderTimeout}, {"server.idle_timeout", c.Server.IdleTimeout},
		{"upstream.connect_timeout", c.Upstream.ConnectTimeout},
		{"upstream.response_header_timeout", c.Upstream.ResponseHeaderTimeout},
		{"upstream.idle_conn_timeout", c.Upstream.IdleConnTimeout},
		{"upstream.max_retry_after", c.Upstream.MaxRetryAfter},
		{"resilience.breaker_cooldown", c.Resilience.BreakerCooldown},
	} {
		if d.v <= 0 {
			bad(d.name, "must be a positive duration")
		}
	}
	if c.Shutdown.PreDrainDelay < 0 {
		bad("shutdown.pre_drain_delay", "must not be negative")
	}
	if c.Upstream.MaxIdleConnsPerHost < 1 {
		bad("upstream.max_idle_conns_per_host", "must be at least 1")
	}
	if c.Upstream.MaxResponseBytes < 4096 {
		bad("upstream.max_response_bytes", "must be at least 4096, got %d", c.Upstream.MaxResponseBytes)
	}
	if c.Upstream.MaxBufferedBytes < c.Upstream.MaxResponseBytes {
		bad("upstream.max_buffered_bytes", "must be at least upstream.max_response_bytes (%d), got %d", c.Upstream.MaxResponseBytes, c.Upstream.MaxBufferedBytes)
	}
	r := c.Resilience
	if r.MaxRetries < 0 || r.MaxRetries > 10 {
		bad("resilience.max_retries", "must be between 0 and 10")
	}
	if r.BackoffBase < 0 || r.BackoffMax < r.BackoffBase {
		bad("resilience.backoff_max", "must be at least backoff_base")
	}
	if !between(r.RetryBudgetRatio, 0, 1) {
		bad("resilience.retry_budget_ratio", "must be between 0 and 1")
	}
	if !between(r.RetryBudgetMin, 0, math.MaxFloat64) {
		bad("resilience.retry_budget_min", "must be a finite number, not negative")
	}
	if r.BreakerFailures < 1 {
		bad("resilience.breaker_failures", "must be at least 1")
	}
	if r.MaxInFlight < 1 {
		bad("resilience.max_in_flight", "must be at least 1")
	}
	if r.MaxStreams < 1 {
		bad("resilience.max_streams", "must be at least 1")
	}
	if t := c.Telemetry.SampleRatio; t != nil && !between(*t, 0, 1) {
		bad("telemetry.sample_ratio", "must be between 0 and 1")
	}
	for _, o := range []struct {
		name string
		v    float64
	}{{"slo.availability_objective", c.SLO.AvailabilityObjective}, {"slo.latency_objective", c.SLO.LatencyObjective}} {
		if !(o.v > 0 && o.v < 1) { // NaN fails too
			bad(o.name, "must be between 0 and 1 (exclusive), e.g. 0.999")
		}
	}
	for g, d := range c.SLO.LatencyThresholds {
		if d <= 0 {
			bad("slo.latency_thresholds."+g, "must be a positive duration")
		}
	}
	providers := map[string]bool{}
	for i, p := range c.Providers {
		f := fmt.Sprintf("providers[%d]", i)
		switch {
		case p.Name == "":
			bad(f+".name", "is required")
		case providers[p.Name]:
			bad(f+".name", "%q is defined twice", p.Name)
		}
		providers[p.Name] = true
		switch p.Type {
		case "sim":
		case "openai":
			if !strings.HasPrefix(p.BaseURL, "http://") && !strings.HasPrefix(p.BaseURL, "https://") {
				bad(f+".base_url", "must be an http(s) URL, got %q", p.BaseURL)
			}
		default:
			bad(f+".type", "must be openai or sim, not %q", p.Type)
		}
	}
	models := map[string]string{}
	for i, m := range c.Models {
		f := fmt.Sprintf("models[%d]", i)
		switch {
		case m.Name == "":
			bad(f+".name", "is required")
		case models[m.Name] != "":
			bad(f+".name", "%q is defined twice", m.Name)
		}
		if m.Kind == "" {
			c.Models[i].Kind = "chat"
		} else if m.Kind != "chat" && m.Kind != "image" && m.Kind != "embedding" {
			bad(f+".kind", "must be chat, image or embedding, not %q", m.Kind)
		}
		models[m.Name] = c.Models[i].Kind
		if !providers[m.Provider] {
			bad(f+".provider", "unknown provider %q", m.Provider)
		}
	}
	for i, m := range c.Models {
		for _, fb := range m.Fallbacks {
			switch {
			case fb == m.Name:
				bad(fmt.Sprintf("models[%d].fallbacks", i), "%q cannot fall back to itself", fb)
			case models[fb] == "":
				bad(fmt.Sprintf("models[%d].fallbacks", i), "unknown model %q", fb)
			case models[fb] != m.Kind:
				bad(fmt.Sprintf("models[%d].fallbacks", i), "%q is a %s model, %q a %s model", fb, models[fb], m.Name, m.Kind)
			}
		}
	}
	if models[c.DefaultModel] != "chat" {
		bad("default_model", "%q is not a configured chat model", c.DefaultModel)
	}
	agents := map[string]bool{}
	for i, a := range c.Agents {
		f := fmt.Sprintf("agents[%d]", i)
		if !validID(a.ID) {
			bad(f+".id", "%q must be 1-64 characters of a-z, 0-9, - and _", a.ID)
		}
		if agents[a.ID] {
			bad(f+".id", "%q is defined twice", a.ID)
		}
		agents[a.ID] = true
		if models[a.Model] != "chat" {
			bad(f+".model", "%q is not a configured chat model", a.Model)
		}
		for _, t := range a.Tools {
			if t != "calculator" && t != "clock" {
				bad(f+".tools", "unknown tool %q (known: calculator, clock)", t)
			}
		}
		if a.MaxSteps < 1 || a.MaxSteps > 50 {
			bad(f+".max_steps", "must be between 1 and 50")
		}
		if a.MaxToolCalls < 0 || a.MaxToolCalls > 256 {
			bad(f+".max_tool_calls", "must be between 1 and 256 (0: the default, 16)")
		}
	}
	s := c.Simulator
	if s.Chunks < 1 {
		bad("simulator.chunks", "must be at least 1")
	}
	if !between(s.ErrorRate, 0, 1) {
		bad("simulator.error_rate", "must be between 0 and 1")
	}
	if s.ErrorStatus < 400 || s.ErrorStatus > 599 {
		bad("simulator.error_status", "must be an HTTP error status (400-599)")
	}
	for name, p := range c.Prices {
		if !between(p.InputPer1M, 0, math.MaxFloat64) || !between(p.OutputPer1M, 0, math.MaxFloat64) || !between(p.CachedInputPer1M, 0, math.MaxFloat64) {
			bad("prices."+name, "prices must be finite and not negative")
		}
		for k, v := range p.PerImage {
			if !between(v, 0, math.MaxFloat64) || !strings.Contains(k, "/") {
				bad("prices."+name+".per_image."+k, "keys are SIZE/QUALITY and prices are finite and not negative")
			}
		}
	}
	c.validateKeys(bad)
	return errors.Join(errs...)
}

// between reports lo <= v <= hi. NaN is outside every range (a check written as v < lo || v > hi
// would let it through), and so is an infinity when hi is math.MaxFloat64.
func between(v, lo, hi float64) bool { return v >= lo && v <= hi }

// validID is also the rule for agent ids in URLs: no dots or slashes, so no path games.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Model returns the configured model by name.
func (c *Config) Model(name string) (Model, bool) {
	for _, m := range c.Models {
		if m.Name == name {
			return m, true
		}
	}
	return Model{}, false
}

// Route timeouts by route group, used by the API's timeout middleware.
func (t Timeouts) For(group string) time.Duration {
	switch group {
	case "chat":
		return t.Chat.D()
	case "stream":
		return t.Stream.D()
	case "images":
		return t.Images.D()
	case "agents":
		return t.Agents.D()
	case "healthz":
		return t.Healthz.D()
	case "embeddings":
		return t.Embeddings.D()
	}
	return t.Default.D()
}
