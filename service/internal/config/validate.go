package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"reflect"
	"slices"
	"strings"
)

// bad names the field a rule refuses: every line of Validate's error starts with one.
func bad(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

// positive refuses every Duration field of section that is not above zero, named by its YAML
// path, so a deadline added to the section is checked without another line.
func positive(prefix string, section any) []error {
	var errs []error
	v := reflect.ValueOf(section)
	for i := range v.NumField() {
		if f := v.Field(i); f.Type() == durationType && f.Int() <= 0 {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
			errs = append(errs, bad(prefix+name, "must be a positive duration"))
		}
	}
	return errs
}

func (c *Config) validateServer() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, bad("addr", "%q is not host:port", c.Addr))
	}
	if c.DebugAddr != "" {
		if _, _, err := net.SplitHostPort(c.DebugAddr); err != nil {
			errs = append(errs, bad("debug_addr", "%q is not host:port", c.DebugAddr))
		}
	}
	if c.Env != "development" && c.Env != "production" {
		errs = append(errs, bad("env", "must be development or production, not %q", c.Env))
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		errs = append(errs, bad("log_level", "must be debug, info, warn or error, not %q", c.LogLevel))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, bad("max_body_bytes", "must be at least 1024, got %d", c.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

func (t Timeouts) validate() error { return errors.Join(positive("timeouts.", t)...) }

func (s Shutdown) validate() error {
	var errs []error
	if s.GracePeriod <= 0 {
		errs = append(errs, bad("shutdown.grace_period", "must be a positive duration"))
	}
	if s.PreDrainDelay < 0 {
		errs = append(errs, bad("shutdown.pre_drain_delay", "must not be negative"))
	}
	return errors.Join(errs...)
}

func (s Server) validate() error { return errors.Join(positive("server.", s)...) }

func (u Upstream) validate() error {
	errs := positive("upstream.", u)
	if u.MaxIdleConnsPerHost < 1 {
		errs = append(errs, bad("upstream.max_idle_conns_per_host", "must be at least 1"))
	}
	if u.MaxResponseBytes < 4096 {
		errs = append(errs, bad("upstream.max_response_bytes", "must be at least 4096, got %d", u.MaxResponseBytes))
	}
	if u.MaxBufferedBytes < u.MaxResponseBytes {
		errs = append(errs, bad("upstream.max_buffered_bytes", "must be at least upstream.max_response_bytes (%d), got %d", u.MaxResponseBytes, u.MaxBufferedBytes))
	}
	return errors.Join(errs...)
}

func (r Resilience) validate() error {
	var errs []error
	if r.MaxRetries < 0 || r.MaxRetries > 10 {
		errs = append(errs, bad("resilience.max_retries", "must be between 0 and 10"))
	}
	if r.BackoffBase < 0 || r.BackoffMax < r.BackoffBase {
		errs = append(errs, bad("resilience.backoff_max", "must be at least backoff_base"))
	}
	if !between(r.RetryBudgetRatio, 0, 1) {
		errs = append(errs, bad("resilience.retry_budget_ratio", "must be between 0 and 1"))
	}
	if !between(r.RetryBudgetMin, 0, math.MaxFloat64) {
		errs = append(errs, bad("resilience.retry_budget_min", "must be a finite number, not negative"))
	}
	if r.BreakerFailures < 1 {
		errs = append(errs, bad("resilience.breaker_failures", "must be at least 1"))
	}
	if r.BreakerCooldown <= 0 {
		errs = append(errs, bad("resilience.breaker_cooldown", "must be a positive duration"))
	}
	if r.MaxInFlight < 1 {
		errs = append(errs, bad("resilience.max_in_flight", "must be at least 1"))
	}
	if r.MaxStreams < 1 {
		errs = append(errs, bad("resilience.max_streams", "must be at least 1"))
	}
	return errors.Join(errs...)
}

func (t Telemetry) validate() error {
	if r := t.SampleRatio; r != nil && !between(*r, 0, 1) {
		return bad("telemetry.sample_ratio", "must be between 0 and 1")
	}
	return nil
}

func (s SLO) validate() error {
	var errs []error
	for _, o := range []struct {
		name string
		v    float64
	}{{"slo.availability_objective", s.AvailabilityObjective}, {"slo.latency_objective", s.LatencyObjective}} {
		if !(o.v > 0 && o.v < 1) { // NaN fails too
			errs = append(errs, bad(o.name, "must be between 0 and 1 (exclusive), e.g. 0.999"))
		}
	}
	for g, d := range s.LatencyThresholds {
		if d <= 0 {
			errs = append(errs, bad("slo.latency_thresholds."+g, "must be a positive duration"))
		}
	}
	return errors.Join(errs...)
}

// names are the names a list has given so far: each is required and unique.
type names map[string]bool

// add records the name of one item (field is its path) and refuses it empty or repeated; nil
// errors are dropped by errors.Join.
func (n names) add(field, name string) error {
	defer func() { n[name] = true }()
	switch {
	case name == "":
		return bad(field, "is required")
	case n[name]:
		return bad(field, "%q is defined twice", name)
	}
	return nil
}

func (c *Config) validateProviders() error {
	var errs []error
	seen := names{}
	for i, p := range c.Providers {
		f := fmt.Sprintf("providers[%d]", i)
		errs = append(errs, seen.add(f+".name", p.Name))
		switch p.Type {
		case "sim":
		case "openai", "anthropic":
			if !strings.HasPrefix(p.BaseURL, "http://") && !strings.HasPrefix(p.BaseURL, "https://") {
				errs = append(errs, bad(f+".base_url", "must be an http(s) URL, got %q", p.BaseURL))
			}
		default:
			errs = append(errs, bad(f+".type", "must be openai, anthropic or sim, not %q", p.Type))
		}
		errs = append(errs, p.validateDialect(f))
	}
	return errors.Join(errs...)
}

// kinds maps each model's name to its kind, the first definition winning.
func (c *Config) kinds() map[string]string {
	kinds := map[string]string{}
	for _, m := range c.Models {
		if _, dup := kinds[m.Name]; !dup {
			kinds[m.Name] = m.Kind
		}
	}
	return kinds
}

func (c *Config) validateModels() error {
	var errs []error
	seen := names{}
	providers := map[string]bool{}
	for _, p := range c.Providers {
		providers[p.Name] = true
	}
	for i, m := range c.Models {
		f := fmt.Sprintf("models[%d]", i)
		errs = append(errs, seen.add(f+".name", m.Name))
		if m.Kind != "chat" && m.Kind != "image" && m.Kind != "embedding" {
			errs = append(errs, bad(f+".kind", "must be chat, image or embedding, not %q", m.Kind))
		}
		errs = append(errs, m.validateRouting(f, providers)...)
	}
	kinds := c.kinds()
	for i, m := range c.Models {
		f := fmt.Sprintf("models[%d].fallbacks", i)
		for _, fb := range m.Fallbacks {
			switch {
			case fb == m.Name:
				errs = append(errs, bad(f, "%q cannot fall back to itself", fb))
			case kinds[fb] == "":
				errs = append(errs, bad(f, "unknown model %q", fb))
			case kinds[fb] != m.Kind:
				errs = append(errs, bad(f, "%q is a %s model, %q a %s model", fb, kinds[fb], m.Name, m.Kind))
			}
		}
	}
	if kinds[c.DefaultModel] != "chat" {
		errs = append(errs, bad("default_model", "%q is not a configured chat model", c.DefaultModel))
	}
	return errors.Join(errs...)
}

func (c *Config) validateAgents() error {
	var errs []error
	kinds := c.kinds()
	seen := map[string]bool{}
	for i, a := range c.Agents {
		f := fmt.Sprintf("agents[%d]", i)
		if !validID(a.ID) {
			errs = append(errs, bad(f+".id", "%q must be 1-64 characters of a-z, 0-9, - and _", a.ID))
		}
		if seen[a.ID] {
			errs = append(errs, bad(f+".id", "%q is defined twice", a.ID))
		}
		seen[a.ID] = true
		if kinds[a.Model] != "chat" {
			errs = append(errs, bad(f+".model", "%q is not a configured chat model", a.Model))
		}
		for _, t := range a.Tools {
			if t != "calculator" && t != "clock" {
				errs = append(errs, bad(f+".tools", "unknown tool %q (known: calculator, clock)", t))
			}
		}
		if a.MaxSteps < 1 || a.MaxSteps > 50 {
			errs = append(errs, bad(f+".max_steps", "must be between 1 and 50"))
		}
		if a.MaxToolCalls < 0 || a.MaxToolCalls > 256 {
			errs = append(errs, bad(f+".max_tool_calls", "must be between 1 and 256 (0: the default, 16)"))
		}
	}
	return errors.Join(errs...)
}

func (s Simulator) validate() error {
	var errs []error
	if s.Chunks < 1 {
		errs = append(errs, bad("simulator.chunks", "must be at least 1"))
	}
	if !between(s.ErrorRate, 0, 1) {
		errs = append(errs, bad("simulator.error_rate", "must be between 0 and 1"))
	}
	if s.ErrorStatus < 400 || s.ErrorStatus > 599 {
		errs = append(errs, bad("simulator.error_status", "must be an HTTP error status (400-599)"))
	}
	return errors.Join(errs...)
}

func (c *Config) validatePrices() error {
	var errs []error
	for name, p := range c.Prices {
		if !between(p.InputPer1M, 0, math.MaxFloat64) || !between(p.OutputPer1M, 0, math.MaxFloat64) || !between(p.CachedInputPer1M, 0, math.MaxFloat64) || !between(p.CacheWriteInputPer1M, 0, math.MaxFloat64) {
			errs = append(errs, bad("prices."+name, "prices must be finite and not negative"))
		}
		for k, v := range p.PerImage {
			if !between(v, 0, math.MaxFloat64) || !strings.Contains(k, "/") {
				errs = append(errs, bad("prices."+name+".per_image."+k, "keys are SIZE/QUALITY and prices are finite and not negative"))
			}
		}
	}
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
