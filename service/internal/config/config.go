// Package config is the service's one typed configuration: embedded defaults, then an optional
// YAML file, then environment variables, then flags. Validate names the offending field, so a
// bad config fails at start with a message an operator can act on.
package config

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
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
	Responses  Responses        `yaml:"responses" json:"responses"`
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
	Messages         Duration `yaml:"messages" json:"messages"`
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
	// API is the dialect the upstream speaks for /v1/responses: chat (translated) or responses.
	API             string `yaml:"api" json:"api,omitempty"`
	ProviderDialect `yaml:",inline"`
}

// Model routes a public model name to a provider, or to several deployments.
type Model struct {
	Name          string   `yaml:"name" json:"name"`
	Provider      string   `yaml:"provider" json:"provider"`
	UpstreamModel string   `yaml:"upstream_model" json:"upstream_model,omitempty"`
	Kind          string   `yaml:"kind" json:"kind,omitempty"` // "chat" (default), "image" or "embedding"
	Fallbacks     []string `yaml:"fallbacks" json:"fallbacks,omitempty"`

	Balancing `yaml:",inline"` // several deployments instead of one provider (deployments.go)
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
	InputPer1M       float64 `yaml:"input_per_1m" json:"input_per_1m"`
	CachedInputPer1M float64 `yaml:"cached_input_per_1m" json:"cached_input_per_1m,omitempty"`
	// CacheWriteInputPer1M prices prompt tokens written to a cache (Anthropic charges them above input).
	CacheWriteInputPer1M float64            `yaml:"cache_write_input_per_1m" json:"cache_write_input_per_1m,omitempty"`
	OutputPer1M          float64            `yaml:"output_per_1m" json:"output_per_1m"`
	PerImage             map[string]float64 `yaml:"per_image" json:"per_image,omitempty"`
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
	flags := newFlagSet()
	if err := flags.fs.Parse(args); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	if flags.fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", flags.fs.Arg(0))
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
	if err := flags.applyFlags(cfg); err != nil {
		return nil, err
	}
	return finish(cfg)
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
	return finish(cfg)
}

func finish(cfg *Config) (*Config, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// applyDefaults fills what defaults.yaml cannot: fields of list items, which a file's list
// replaces whole.
func (c *Config) applyDefaults() {
	for i := range c.Models {
		if c.Models[i].Kind == "" {
			c.Models[i].Kind = "chat"
		}
		c.Models[i].routingDefaults()
	}
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

// EnvVars lists every environment variable the service reads, including the ones read by
// libraries (OpenTelemetry) and the provider key variables named in the config.
func (c *Config) EnvVars() []string {
	names := []string{"AISERVICE_CONFIG"}
	for _, s := range settings {
		if s.env != "" {
			names = append(names, s.env)
		}
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

// Validate checks every section and names every bad field (joined), so one run shows them all.
// It changes nothing: defaults are applyDefaults's. A section is one entry of the list, its
// rules in its own validator (validate.go, or the section's own file), each error naming its
// field with the full YAML path.
func (c *Config) Validate() error {
	var errs []error
	for _, v := range []func() error{
		c.validateServer, c.Timeouts.validate, c.Shutdown.validate, c.Server.validate, c.Upstream.validate,
		c.Resilience.validate, c.Telemetry.validate, c.SLO.validate, c.validateProviders, c.validateModels,
		c.validateAgents, c.Simulator.validate, c.validatePrices, c.validateDialectModels,
		c.validateResponses, c.validateKeys,
	} {
		errs = append(errs, v())
	}
	return errors.Join(errs...)
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
	case "messages":
		return t.Messages.D()
	}
	return t.Default.D()
}
