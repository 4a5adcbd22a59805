package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
)

// VirtualKey is a client key with its own limits. The key itself is never in the config in
// plain text: Hash is its SHA-256 (`sha256:HEX`), or KeyEnv names the environment variable that
// holds it (read and hashed at start).
type VirtualKey struct {
	Name        string   `yaml:"name" json:"name"`
	Team        string   `yaml:"team" json:"team,omitempty"`
	Hash        Secret   `yaml:"hash" json:"hash,omitempty"`
	KeyEnv      string   `yaml:"key_env" json:"key_env,omitempty"`
	Revoked     bool     `yaml:"revoked" json:"revoked,omitempty"`
	Models      []string `yaml:"models" json:"models,omitempty"` // empty: every model
	RPM         int      `yaml:"rpm" json:"rpm,omitempty"`       // requests per minute; 0: no limit
	TPM         int      `yaml:"tpm" json:"tpm,omitempty"`       // tokens per minute; 0: no limit
	MaxParallel int      `yaml:"max_parallel" json:"max_parallel,omitempty"`
	// DailyUSD and MonthlyUSD are budgets that reset at 00:00 UTC (the first of the month).
	DailyUSD   float64 `yaml:"daily_usd" json:"daily_usd,omitempty"`
	MonthlyUSD float64 `yaml:"monthly_usd" json:"monthly_usd,omitempty"`
	// Cache is the key's response-cache policy: off, key (its own entries), team (shared with
	// its team), shared (with everyone); empty: cache.default.
	Cache string `yaml:"cache" json:"cache,omitempty"`
}

// Cache configures the response cache.
type Cache struct {
	// Default is the policy of requests whose key names none (and of requests without a
	// virtual key): off or shared.
	Default        string   `yaml:"default" json:"default"`
	TTL            Duration `yaml:"ttl" json:"ttl"`
	MaxBytes       int64    `yaml:"max_bytes" json:"max_bytes"` // the in-process cache's bound
	ToolCalls      bool     `yaml:"tool_calls" json:"tool_calls"`
	AnyTemperature bool     `yaml:"any_temperature" json:"any_temperature"`
}

// Limits are the settings shared by every key's limits.
type Limits struct {
	// MaxOutputTokens is the output a reservation assumes when a request names no max_tokens.
	MaxOutputTokens int `yaml:"max_output_tokens" json:"max_output_tokens"`
	// StreamOverBudget is what a stream that crosses its key's budget gets: cut (an SSE error
	// event at the next chunk) or finish.
	StreamOverBudget string `yaml:"stream_over_budget" json:"stream_over_budget"`
}

// Store is where limit state lives: in the process (url empty) or in Redis/Valkey.
type Store struct {
	URL Secret `yaml:"url" json:"url"` // redis://[user:pass@]host:port/db; may hold a password
	// Cluster reads URL as a Redis Cluster's seed nodes (redis://host:port?addr=host2:port2&…).
	Cluster bool `yaml:"cluster" json:"cluster"`
	// Timeout bounds every store call.
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// FailureMode is what a request gets while the store is unreachable: fail_open (each
	// replica enforces limit ÷ replicas locally) or fail_closed (503).
	FailureMode     string   `yaml:"failure_mode" json:"failure_mode"`
	Replicas        int      `yaml:"replicas" json:"replicas"` // expected replicas, for the local fallback
	BreakerFailures int      `yaml:"breaker_failures" json:"breaker_failures"`
	BreakerCooldown Duration `yaml:"breaker_cooldown" json:"breaker_cooldown"`
}

// maxLimit bounds a key's per-minute limits: above it a unit would take less than 60 ns.
const maxLimit = 1_000_000_000

// validateKeys checks the keys, limits and store sections.
func (c *Config) validateKeys() error {
	var errs []error
	seen := map[string]bool{}
	for i, k := range c.Keys {
		f := fmt.Sprintf("keys[%d]", i)
		if !validID(k.Name) {
			errs = append(errs, bad(f+".name", "must be 1-64 of a-z, 0-9, - and _ (it is a metric label)"))
		} else if seen[k.Name] {
			errs = append(errs, bad(f+".name", "%q is defined twice", k.Name))
		}
		seen[k.Name] = true
		hash, hasHash := strings.CutPrefix(string(k.Hash), "sha256:")
		switch {
		case (k.Hash != "") == (k.KeyEnv != ""):
			errs = append(errs, bad(f, "needs exactly one of hash (sha256:HEX) and key_env"))
		case k.Hash != "" && (!hasHash || len(hash) != 64 || !isHex(hash)):
			errs = append(errs, bad(f+".hash", "must be sha256: and 64 hex digits"))
		}
		for _, m := range k.Models {
			if _, ok := c.Model(m); !ok {
				errs = append(errs, bad(f+".models", "%q is not a configured model", m))
			}
		}
		if k.RPM < 0 || k.TPM < 0 || k.MaxParallel < 0 || k.RPM > maxLimit || k.TPM > maxLimit || k.MaxParallel > maxLimit {
			errs = append(errs, bad(f, "rpm, tpm and max_parallel must be 0 (no limit) to %d", maxLimit))
		}
		if !between(k.DailyUSD, 0, math.MaxFloat64) || !between(k.MonthlyUSD, 0, math.MaxFloat64) {
			errs = append(errs, bad(f, "daily_usd and monthly_usd must be finite and not negative"))
		}
		if k.Cache != "" && !slices.Contains([]string{"off", "key", "team", "shared"}, k.Cache) {
			errs = append(errs, bad(f+".cache", "must be off, key, team or shared, not %q", k.Cache))
		}
	}
	if !slices.Contains([]string{"off", "shared"}, c.Cache.Default) {
		errs = append(errs, bad("cache.default", "must be off or shared, not %q", c.Cache.Default))
	}
	if c.Cache.TTL <= 0 || c.Cache.MaxBytes < 1 {
		errs = append(errs, bad("cache", "ttl must be a positive duration and max_bytes at least 1"))
	}
	if c.Limits.MaxOutputTokens < 1 {
		errs = append(errs, bad("limits.max_output_tokens", "must be at least 1"))
	}
	if !slices.Contains([]string{"cut", "finish"}, c.Limits.StreamOverBudget) {
		errs = append(errs, bad("limits.stream_over_budget", "must be cut or finish, not %q", c.Limits.StreamOverBudget))
	}
	if c.Store.URL != "" {
		if u, err := url.Parse(string(c.Store.URL)); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			errs = append(errs, bad("store.url", "must be redis://host:port or rediss://host:port"))
		} else if c.Store.Cluster && strings.Trim(u.Path, "/") != "" {
			errs = append(errs, bad("store.url", "names a database, which a Redis Cluster does not have (store.cluster)"))
		}
	} else if c.Store.Cluster {
		errs = append(errs, bad("store.cluster", "needs store.url, the cluster's seed nodes"))
	}
	if c.Store.Timeout <= 0 || c.Store.BreakerCooldown <= 0 {
		errs = append(errs, bad("store", "timeout and breaker_cooldown must be positive durations"))
	}
	if !slices.Contains([]string{"fail_open", "fail_closed"}, c.Store.FailureMode) {
		errs = append(errs, bad("store.failure_mode", "must be fail_open or fail_closed, not %q", c.Store.FailureMode))
	}
	if c.Store.Replicas < 1 || c.Store.BreakerFailures < 1 {
		errs = append(errs, bad("store", "replicas and breaker_failures must be at least 1"))
	}
	return errors.Join(errs...)
}

// keyEnvVars adds the variables the virtual keys are read from.
func (c *Config) keyEnvVars(names []string) []string {
	for _, k := range c.Keys {
		if k.KeyEnv != "" && !slices.Contains(names, k.KeyEnv) {
			names = append(names, k.KeyEnv)
		}
	}
	return names
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}
