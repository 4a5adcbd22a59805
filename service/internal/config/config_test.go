package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestDefaults(t *testing.T) {
	cfg, err := Load(nil, env(nil))
	if err != nil {
		t.Fatalf("the embedded defaults do not load: %v", err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"addr", cfg.Addr, "127.0.0.1:8080"},
		{"env", cfg.Env, "development"},
		{"log_level", cfg.LogLevel, "info"},
		{"max_body_bytes", cfg.MaxBodyBytes, int64(1 << 20)},
		{"default_model", cfg.DefaultModel, "gpt-4o-mini"},
		{"api_keys", len(cfg.APIKeys), 0},
		{"timeouts.chat", cfg.Timeouts.Chat.D(), 60 * time.Second},
		{"timeouts.agents", cfg.Timeouts.Agents.D(), 5 * time.Second},
		{"timeouts.stream_first_token", cfg.Timeouts.StreamFirstToken.D(), 30 * time.Second},
		{"shutdown.grace_period", cfg.Shutdown.GracePeriod.D(), 30 * time.Second},
		{"resilience.max_retries", cfg.Resilience.MaxRetries, 2},
		{"resilience.max_in_flight", cfg.Resilience.MaxInFlight, 512},
		{"resilience.max_streams", cfg.Resilience.MaxStreams, 10000},
		{"telemetry.sample_ratio", cfg.Telemetry.SampleRatio == nil, true},
		{"slo.latency_thresholds.chat", cfg.SLO.LatencyThresholds["chat"].D(), 2 * time.Second},
		{"providers", len(cfg.Providers), 2},
		{"models", len(cfg.Models), 5},
		{"timeouts.embeddings", cfg.Timeouts.Embeddings.D(), 30 * time.Second},
		{"prices.text-embedding-3-large.input_per_1m", cfg.Prices["text-embedding-3-large"].InputPer1M, 0.13},
		{"agents", len(cfg.Agents), 2},
		{"simulator.chunks", cfg.Simulator.Chunks, 8},
		{"simulator.error_status", cfg.Simulator.ErrorStatus, 503},
		{"prices.gpt-4o-mini.input_per_1m", cfg.Prices["gpt-4o-mini"].InputPer1M, 0.15},
		{"prices.gpt-image-1 1024x1024/medium", cfg.Prices["gpt-image-1"].PerImage["1024x1024/medium"], 0.042},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// Validate fills the default kind.
	if m, ok := cfg.Model("gpt-4o-mini"); !ok || m.Kind != "chat" || m.Provider != "sim" || m.Upstream() != "gpt-4o-mini" {
		t.Errorf("gpt-4o-mini = %+v, %v", m, ok)
	}
	if m, ok := cfg.Model("gpt-4o"); !ok || !slices.Equal(m.Fallbacks, []string{"gpt-4o-mini"}) {
		t.Errorf("gpt-4o = %+v, want a fallback to gpt-4o-mini", m)
	}
	if m, _ := cfg.Model("text-embedding-3-small"); m.Kind != "embedding" {
		t.Errorf("text-embedding-3-small kind = %q, want embedding", m.Kind)
	}
	if m, _ := cfg.Model("gpt-image-1"); m.Kind != "image" {
		t.Errorf("gpt-image-1 kind = %q", m.Kind)
	}
	if _, ok := cfg.Model("nope"); ok {
		t.Error("Model found an unknown model")
	}
	// Parse(nil) is the same as Load without any source.
	p, err := Parse(nil)
	if err != nil || p.Addr != cfg.Addr || len(p.Models) != len(cfg.Models) {
		t.Errorf("Parse(nil) = %+v, %v", p, err)
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestYAMLOverrides(t *testing.T) {
	cfg, err := Parse([]byte(`
addr: 0.0.0.0:9000
env: production
timeouts:
  chat: 3s
resilience:
  max_retries: 0
telemetry:
  sample_ratio: 0.5
slo:
  latency_thresholds:
    chat: 500ms
providers:
  - name: local
    type: openai
    base_url: http://127.0.0.1:11434/v1
models:
  - name: llama
    provider: local
    upstream_model: llama3.2
default_model: llama
agents: []
prices:
  llama: {input_per_1m: 0.01, output_per_1m: 0.02}
  gpt-4o-mini: {input_per_1m: 1, output_per_1m: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "0.0.0.0:9000" || cfg.Env != "production" {
		t.Errorf("scalars not overridden: addr %q env %q", cfg.Addr, cfg.Env)
	}
	// Fields the file does not name keep their defaults, even inside an overridden section.
	if cfg.Timeouts.Chat.D() != 3*time.Second || cfg.Timeouts.Stream.D() != 300*time.Second {
		t.Errorf("timeouts chat %v stream %v, want 3s and the default 300s", cfg.Timeouts.Chat.D(), cfg.Timeouts.Stream.D())
	}
	if cfg.Resilience.MaxRetries != 0 || cfg.Resilience.BreakerFailures != 5 {
		t.Errorf("resilience = %+v: max_retries 0 must override, breaker_failures keep 5", cfg.Resilience)
	}
	if cfg.Telemetry.SampleRatio == nil || *cfg.Telemetry.SampleRatio != 0.5 {
		t.Errorf("sample_ratio = %v", cfg.Telemetry.SampleRatio)
	}
	// Lists replace the defaults.
	if len(cfg.Providers) != 1 || len(cfg.Models) != 1 || len(cfg.Agents) != 0 {
		t.Errorf("lists must replace the defaults: %d providers, %d models, %d agents", len(cfg.Providers), len(cfg.Models), len(cfg.Agents))
	}
	if m, _ := cfg.Model("llama"); m.Upstream() != "llama3.2" {
		t.Errorf("upstream model = %q", m.Upstream())
	}
	// Maps merge by key.
	if th := cfg.SLO.LatencyThresholds; th["chat"].D() != 500*time.Millisecond || th["images"].D() != 10*time.Second {
		t.Errorf("thresholds = %v: chat overridden, images kept", th)
	}
	if p := cfg.Prices; p["llama"].InputPer1M != 0.01 || p["gpt-4o-mini"].InputPer1M != 1 || p["gpt-4o"].InputPer1M != 2.5 {
		t.Errorf("prices not merged by key: %+v", p)
	}
}

func TestYAMLErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown top-level field", "adress: 1.2.3.4:5\n", "field adress not found"},
		{"unknown nested field", "timeouts:\n  chatt: 1s\n", "field chatt not found"},
		{"unknown field in a list item", "providers:\n  - name: x\n    type: sim\n    key: k\n", "field key not found"},
		{"a bad duration names its line", "addr: 127.0.0.1:1\ntimeouts:\n  chat: soon\n", `line 3: "soon" is not a duration`},
		{"a wrong type", "max_body_bytes: lots\n", "cannot unmarshal"},
		{"not a mapping", "- a\n- b\n", "cannot unmarshal"},
		{"malformed YAML", "addr: [\n", "config:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "addr: 127.0.0.1:1001\nshutdown:\n  grace_period: 11s\nlog_level: warn\n")
	for _, tc := range []struct {
		name      string
		args      []string
		env       map[string]string
		wantAddr  string
		wantGrace time.Duration
		wantLevel string
	}{
		{"defaults", nil, nil, "127.0.0.1:8080", 30 * time.Second, "info"},
		{"YAML over defaults", []string{"--config", file}, nil, "127.0.0.1:1001", 11 * time.Second, "warn"},
		{"AISERVICE_CONFIG names the file", nil, map[string]string{"AISERVICE_CONFIG": file}, "127.0.0.1:1001", 11 * time.Second, "warn"},
		{"env over YAML", []string{"--config", file},
			map[string]string{"AISERVICE_ADDR": "127.0.0.1:1002", "AISERVICE_SHUTDOWN_GRACE_PERIOD": "12s"},
			"127.0.0.1:1002", 12 * time.Second, "warn"},
		{"flags over env", []string{"--config", file, "--addr", "127.0.0.1:1003", "--log-level=debug"},
			map[string]string{"AISERVICE_ADDR": "127.0.0.1:1002", "AISERVICE_SHUTDOWN_GRACE_PERIOD": "12s", "AISERVICE_LOG_LEVEL": "error"},
			"127.0.0.1:1003", 12 * time.Second, "debug"},
		{"flags over defaults without a file", []string{"--grace-period", "2s"}, nil, "127.0.0.1:8080", 2 * time.Second, "info"},
		{"--config beats AISERVICE_CONFIG", []string{"--config", file}, map[string]string{"AISERVICE_CONFIG": "/does/not/exist"},
			"127.0.0.1:1001", 11 * time.Second, "warn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.args, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Addr != tc.wantAddr || cfg.Shutdown.GracePeriod.D() != tc.wantGrace || cfg.LogLevel != tc.wantLevel {
				t.Fatalf("addr %q grace %v level %q; want %q %v %q", cfg.Addr, cfg.Shutdown.GracePeriod.D(), cfg.LogLevel,
					tc.wantAddr, tc.wantGrace, tc.wantLevel)
			}
		})
	}
}

func TestEnvAndFlagSettings(t *testing.T) {
	cfg, err := Load([]string{"--api-keys", " k1 , ,k2", "--max-in-flight", "7", "--pre-drain-delay", "1s",
		"--otlp-endpoint", "http://127.0.0.1:4318", "--env", "production", "--default-model", "gpt-4o",
		"--debug-addr", "127.0.0.1:6060", "--max-body-bytes", "2048", "--max-streams", "9"},
		env(map[string]string{
			"AISERVICE_RECORD_CONTENT": "true",
			"OPENAI_BASE_URL":          "http://127.0.0.1:9/v1",
			"OPENAI_API_KEY":           "sk-from-env",
		}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.APIKeys, Secrets{"k1", "k2"}) {
		t.Errorf("api_keys = %q, want trimmed k1,k2", []Secret(cfg.APIKeys))
	}
	if cfg.Resilience.MaxInFlight != 7 || cfg.Shutdown.PreDrainDelay.D() != time.Second || cfg.Telemetry.OTLPEndpoint != "http://127.0.0.1:4318" ||
		cfg.Env != "production" || cfg.DefaultModel != "gpt-4o" || cfg.DebugAddr != "127.0.0.1:6060" || cfg.MaxBodyBytes != 2048 ||
		cfg.Resilience.MaxStreams != 9 {
		t.Errorf("flags not applied: %+v", cfg)
	}
	if !cfg.Telemetry.RecordContent {
		t.Error("AISERVICE_RECORD_CONTENT=true not applied")
	}
	for _, p := range cfg.Providers {
		if p.Name == "openai" && (p.BaseURL != "http://127.0.0.1:9/v1" || p.APIKey != "sk-from-env") {
			t.Errorf("openai provider = base %q key set %v", p.BaseURL, p.APIKey == "sk-from-env")
		}
	}
	// A key written in the file wins over the variable it would otherwise come from.
	file := writeFile(t, "providers:\n  - name: sim\n    type: sim\n    api_key: sk-file\n    api_key_env: SIM_KEY\n")
	cfg, err = Load([]string{"--config", file}, env(map[string]string{"SIM_KEY": "sk-env"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Providers[0].APIKey != "sk-file" {
		t.Errorf("api_key from the file was replaced by the env var")
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad env integer", nil, map[string]string{"AISERVICE_MAX_IN_FLIGHT": "many"}, "AISERVICE_MAX_IN_FLIGHT (resilience.max_in_flight)"},
		{"bad env stream cap", nil, map[string]string{"AISERVICE_MAX_STREAMS": "lots"}, "AISERVICE_MAX_STREAMS (resilience.max_streams)"},
		{"bad env duration", nil, map[string]string{"AISERVICE_SHUTDOWN_GRACE_PERIOD": "10"}, "AISERVICE_SHUTDOWN_GRACE_PERIOD"},
		{"bad env bool", nil, map[string]string{"AISERVICE_RECORD_CONTENT": "yes please"}, "AISERVICE_RECORD_CONTENT"},
		{"bad env body size", nil, map[string]string{"AISERVICE_MAX_BODY_BYTES": "1MB"}, "AISERVICE_MAX_BODY_BYTES"},
		{"bad flag duration", []string{"--grace-period", "forever"}, nil, "--grace-period (shutdown.grace_period)"},
		{"bad flag integer", []string{"--max-in-flight=1.5"}, nil, "--max-in-flight"},
		{"unknown flag", []string{"--nope"}, nil, "flags:"},
		{"positional argument", []string{"serve"}, nil, `unexpected argument "serve"`},
		{"missing file", []string{"--config", "/does/not/exist.yaml"}, nil, "config file:"},
		{"an env value that fails validation", nil, map[string]string{"ENV": "staging"}, "env: must be development or production"},
		{"a flag value that fails validation", []string{"--max-in-flight", "0"}, nil, "resilience.max_in_flight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.args, env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestValidate has one row per rule: a YAML change that breaks it and the field the error names.
// Every line of the error must name that field, so one mistake gives one clear message.
func TestValidate(t *testing.T) {
	sim := "providers:\n  - {name: sim, type: sim}\n"
	for _, tc := range []struct {
		name, yaml, field string
	}{
		{"addr is host:port", "addr: localhost\n", "addr"},
		{"debug_addr is host:port when set", "debug_addr: ':x:y'\n", "debug_addr"},
		{"env", "env: staging\n", "env"},
		{"log_level", "log_level: verbose\n", "log_level"},
		{"max_body_bytes at least 1024", "max_body_bytes: 1023\n", "max_body_bytes"},
		{"responses.store_max_entries at least 1", "responses: {store_max_entries: 0}\n", "responses.store_max_entries"},
		{"responses.store_max_bytes at least 1024", "responses: {store_max_bytes: 10}\n", "responses.store_max_bytes"},
		{"responses.store_ttl positive", "responses: {store_ttl: 0s}\n", "responses.store_ttl"},
		{"providers[].api chat or responses", "providers:\n  - {name: sim, type: sim, api: completions}\n", "providers[0].api"},
		{"timeouts.chat positive", "timeouts: {chat: 0s}\n", "timeouts.chat"},
		{"timeouts.stream positive", "timeouts: {stream: -1s}\n", "timeouts.stream"},
		{"timeouts.images positive", "timeouts: {images: 0s}\n", "timeouts.images"},
		{"timeouts.agents positive", "timeouts: {agents: 0s}\n", "timeouts.agents"},
		{"timeouts.healthz positive", "timeouts: {healthz: 0s}\n", "timeouts.healthz"},
		{"timeouts.default positive", "timeouts: {default: 0s}\n", "timeouts.default"},
		{"timeouts.stream_first_token positive", "timeouts: {stream_first_token: 0s}\n", "timeouts.stream_first_token"},
		{"timeouts.stream_idle positive", "timeouts: {stream_idle: 0s}\n", "timeouts.stream_idle"},
		{"shutdown.grace_period positive", "shutdown: {grace_period: 0s}\n", "shutdown.grace_period"},
		{"shutdown.pre_drain_delay not negative", "shutdown: {pre_drain_delay: -1s}\n", "shutdown.pre_drain_delay"},
		{"server.read_header_timeout positive", "server: {read_header_timeout: 0s}\n", "server.read_header_timeout"},
		{"server.idle_timeout positive", "server: {idle_timeout: 0s}\n", "server.idle_timeout"},
		{"upstream.connect_timeout positive", "upstream: {connect_timeout: 0s}\n", "upstream.connect_timeout"},
		{"upstream.response_header_timeout positive", "upstream: {response_header_timeout: 0s}\n", "upstream.response_header_timeout"},
		{"upstream.idle_conn_timeout positive", "upstream: {idle_conn_timeout: 0s}\n", "upstream.idle_conn_timeout"},
		{"upstream.max_idle_conns_per_host at least 1", "upstream: {max_idle_conns_per_host: 0}\n", "upstream.max_idle_conns_per_host"},
		{"upstream.max_response_bytes at least 4096", "upstream: {max_response_bytes: 100}\n", "upstream.max_response_bytes"},
		{"upstream.max_buffered_bytes holds one answer", "upstream: {max_response_bytes: 8192, max_buffered_bytes: 4096}\n", "upstream.max_buffered_bytes"},
		{"upstream.max_retry_after positive", "upstream: {max_retry_after: 0s}\n", "upstream.max_retry_after"},
		{"resilience.breaker_cooldown positive", "resilience: {breaker_cooldown: 0s}\n", "resilience.breaker_cooldown"},
		{"resilience.max_retries at most 10", "resilience: {max_retries: 11}\n", "resilience.max_retries"},
		{"resilience.max_retries not negative", "resilience: {max_retries: -1}\n", "resilience.max_retries"},
		{"resilience.backoff_max at least backoff_base", "resilience: {backoff_base: 3s, backoff_max: 2s}\n", "resilience.backoff_max"},
		{"resilience.backoff_base not negative", "resilience: {backoff_base: -1s}\n", "resilience.backoff_max"},
		{"resilience.retry_budget_ratio at most 1", "resilience: {retry_budget_ratio: 1.5}\n", "resilience.retry_budget_ratio"},
		{"resilience.retry_budget_min not negative", "resilience: {retry_budget_min: -1}\n", "resilience.retry_budget_min"},
		{"resilience.breaker_failures at least 1", "resilience: {breaker_failures: 0}\n", "resilience.breaker_failures"},
		{"resilience.max_in_flight at least 1", "resilience: {max_in_flight: 0}\n", "resilience.max_in_flight"},
		{"resilience.max_streams at least 1", "resilience: {max_streams: 0}\n", "resilience.max_streams"},
		{"telemetry.sample_ratio at most 1", "telemetry: {sample_ratio: 2}\n", "telemetry.sample_ratio"},
		{"telemetry.sample_ratio not negative", "telemetry: {sample_ratio: -0.1}\n", "telemetry.sample_ratio"},
		{"slo.availability_objective below 1", "slo: {availability_objective: 1}\n", "slo.availability_objective"},
		{"slo.latency_objective above 0", "slo: {latency_objective: 0}\n", "slo.latency_objective"},
		{"slo.latency_thresholds positive", "slo: {latency_thresholds: {chat: 0s}}\n", "slo.latency_thresholds.chat"},
		{"providers need a name", sim + "  - {type: sim}\n", "providers[1].name"},
		{"provider names are unique", sim + "  - {name: sim, type: sim}\n", "providers[1].name"},
		{"provider types", sim + "  - {name: x, type: vertex}\n", "providers[1].type"},
		{"anthropic providers need an http(s) base_url", sim + "  - {name: x, type: anthropic}\n", "providers[1].base_url"},
		{"dialects", sim + "  - {name: x, type: sim, dialect: gemini}\n", "providers[1].dialect"},
		{"no image models on an anthropic provider", sim + "  - {name: x, type: anthropic, base_url: http://h}\nmodels:\n  - {name: gpt-4o-mini, provider: sim}\n  - {name: i, provider: x, kind: image}\n", "models[1].kind"},
		{"no responses api on an anthropic provider", sim + "  - {name: x, type: anthropic, base_url: http://h, api: responses}\n", "providers[1].api"},
		{"no responses api on the simulator's anthropic dialect", sim + "  - {name: x, type: sim, dialect: anthropic, api: responses}\n", "providers[1].api"},
		{"only sim providers choose a dialect", sim + "  - {name: x, type: openai, base_url: http://h, dialect: anthropic}\n", "providers[1].dialect"},
		{"openai providers need an http(s) base_url", sim + "  - {name: x, type: openai, base_url: api.openai.com}\n", "providers[1].base_url"},
		{"models need a name", "models:\n  - {name: gpt-4o-mini, provider: sim}\n  - {provider: sim}\n", "models[1].name"},
		{"model names are unique", "models:\n  - {name: gpt-4o-mini, provider: sim}\n  - {name: gpt-4o-mini, provider: sim}\n", "models[1].name"},
		{"model kinds", "models:\n  - {name: gpt-4o-mini, provider: sim}\n  - {name: x, provider: sim, kind: audio}\n", "models[1].kind"},
		{"models name a known provider", "models:\n  - {name: gpt-4o-mini, provider: sim}\n  - {name: x, provider: nope}\n", "models[1].provider"},
		{"a model cannot fall back to itself", "models:\n  - {name: gpt-4o-mini, provider: sim, fallbacks: [gpt-4o-mini]}\n", "models[0].fallbacks"},
		{"fallbacks are known models", "models:\n  - {name: gpt-4o-mini, provider: sim, fallbacks: [gpt-5]}\n", "models[0].fallbacks"},
		{"fallbacks are of the same kind", "models:\n  - {name: gpt-4o-mini, provider: sim, fallbacks: [img]}\n  - {name: img, provider: sim, kind: image}\n", "models[0].fallbacks"},
		{"default_model is a chat model", "default_model: gpt-image-1\n", "default_model"},
		{"agent ids", "agents:\n  - {id: ../etc, model: gpt-4o-mini, max_steps: 1}\n", "agents[0].id"},
		{"agent ids are not empty", "agents:\n  - {model: gpt-4o-mini, max_steps: 1}\n", "agents[0].id"},
		{"agent ids are unique", "agents:\n  - {id: a, model: gpt-4o-mini, max_steps: 1}\n  - {id: a, model: gpt-4o-mini, max_steps: 1}\n", "agents[1].id"},
		{"agents use a chat model", "agents:\n  - {id: a, model: gpt-image-1, max_steps: 1}\n", "agents[0].model"},
		{"agent tools are known", "agents:\n  - {id: a, model: gpt-4o-mini, max_steps: 1, tools: [shell]}\n", "agents[0].tools"},
		{"agent max_steps at least 1", "agents:\n  - {id: a, model: gpt-4o-mini, max_steps: 0}\n", "agents[0].max_steps"},
		{"agent max_steps at most 50", "agents:\n  - {id: a, model: gpt-4o-mini, max_steps: 51}\n", "agents[0].max_steps"},
		{"agent max_tool_calls not negative", "agents:\n  - {id: a, model: gpt-4o-mini, max_steps: 1, max_tool_calls: -1}\n", "agents[0].max_tool_calls"},
		{"agent max_tool_calls at most 256", "agents:\n  - {id: a, model: gpt-4o-mini, max_steps: 1, max_tool_calls: 257}\n", "agents[0].max_tool_calls"},
		// NaN passes a check written as "x < lo || x > hi"; every float rule must refuse it.
		{"resilience.retry_budget_ratio not NaN", "resilience: {retry_budget_ratio: .nan}\n", "resilience.retry_budget_ratio"},
		{"resilience.retry_budget_min finite", "resilience: {retry_budget_min: .inf}\n", "resilience.retry_budget_min"},
		{"telemetry.sample_ratio not NaN", "telemetry: {sample_ratio: .nan}\n", "telemetry.sample_ratio"},
		{"slo.availability_objective not NaN", "slo: {availability_objective: .nan}\n", "slo.availability_objective"},
		{"simulator.error_rate not NaN", "simulator: {error_rate: .nan}\n", "simulator.error_rate"},
		{"prices finite", "prices: {x: {output_per_1m: .inf}}\n", "prices.x"},
		{"prices not NaN", "prices: {x: {cached_input_per_1m: .nan}}\n", "prices.x"},
		{"image prices finite", "prices: {x: {per_image: {1024x1024/low: .nan}}}\n", "prices.x.per_image.1024x1024/low"},
		{"simulator.chunks at least 1", "simulator: {chunks: 0}\n", "simulator.chunks"},
		{"simulator.error_rate at most 1", "simulator: {error_rate: 1.1}\n", "simulator.error_rate"},
		{"simulator.error_status is an error", "simulator: {error_status: 200}\n", "simulator.error_status"},
		{"prices not negative", "prices: {x: {input_per_1m: -1}}\n", "prices.x"},
		{"image price keys are SIZE/QUALITY", "prices: {x: {per_image: {1024x1024: 0.1}}}\n", "prices.x.per_image.1024x1024"},
		{"image prices not negative", "prices: {x: {per_image: {1024x1024/low: -0.1}}}\n", "prices.x.per_image.1024x1024/low"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted; want an error naming %s", tc.field)
			}
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !strings.HasPrefix(line, tc.field+": ") {
					t.Fatalf("error line %q does not name %s (whole error: %v)", line, tc.field, err)
				}
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte("env: staging\nlog_level: loud\n"))
	if err == nil || !strings.Contains(err.Error(), "env: ") || !strings.Contains(err.Error(), "log_level: ") {
		t.Fatalf("error %v, want both env and log_level named", err)
	}
}

func TestSecretRedaction(t *testing.T) {
	cfg, err := Load([]string{"--api-keys", "client-key-1,client-key-2"}, env(map[string]string{"OPENAI_API_KEY": "sk-upstream-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"client-key-1", "client-key-2", "sk-upstream-secret"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("JSON of the config leaks %q", secret)
		}
	}
	var back struct {
		APIKeys   []string `json:"api_keys"`
		Providers []struct {
			Name   string `json:"name"`
			APIKey string `json:"api_key"`
		} `json:"providers"`
		Timeouts map[string]string `json:"timeouts"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.APIKeys, []string{"[redacted]", "[redacted]"}) {
		t.Errorf("api_keys = %q, want two [redacted]", back.APIKeys)
	}
	for _, p := range back.Providers {
		want := map[string]string{"openai": "[redacted]", "sim": ""}[p.Name]
		if p.APIKey != want {
			t.Errorf("provider %s api_key = %q, want %q", p.Name, p.APIKey, want)
		}
	}
	// Durations are readable strings in the dump.
	if back.Timeouts["chat"] != "1m0s" {
		t.Errorf("timeouts.chat = %q, want 1m0s", back.Timeouts["chat"])
	}
	// Printing a secret never shows it either.
	s := Secret("hunter2")
	for _, out := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%v %s", s, s), fmt.Sprint(Secrets{s})} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("printed %q", out)
		}
	}
	if Secret("").String() != "" {
		t.Error("an empty secret should print empty, so 'not set' stays visible")
	}
}

func TestEnvVars(t *testing.T) {
	cfg, err := Parse([]byte("providers:\n  - {name: sim, type: sim, api_key_env: SIM_KEY}\n  - {name: o, type: openai, base_url: 'http://x', api_key_env: OPENAI_API_KEY}\n"))
	if err != nil {
		t.Fatal(err)
	}
	names := cfg.EnvVars()
	if names[0] != "AISERVICE_CONFIG" {
		t.Errorf("first variable %q, want AISERVICE_CONFIG", names[0])
	}
	if !slices.IsSorted(names[1:]) {
		t.Errorf("variables not sorted: %v", names)
	}
	for _, want := range []string{"AISERVICE_ADDR", "ENV", "OTLP_ENDPOINT", "OPENAI_BASE_URL", "OTEL_TRACES_SAMPLER", "SIM_KEY", "OPENAI_API_KEY"} {
		if !slices.Contains(names, want) {
			t.Errorf("EnvVars lacks %s: %v", want, names)
		}
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%s listed twice", n)
		}
		seen[n] = true
	}
}

func TestTimeoutsFor(t *testing.T) {
	cfg, err := Parse([]byte("timeouts: {chat: 1s, stream: 2s, images: 3s, agents: 4s, healthz: 5s, default: 6s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for group, want := range map[string]time.Duration{
		"chat": time.Second, "stream": 2 * time.Second, "images": 3 * time.Second,
		"agents": 4 * time.Second, "healthz": 5 * time.Second, "models": 6 * time.Second, "": 6 * time.Second,
	} {
		if got := cfg.Timeouts.For(group); got != want {
			t.Errorf("For(%q) = %v, want %v", group, got, want)
		}
	}
}
