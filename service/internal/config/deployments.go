package config

import (
	"fmt"
	"slices"
)

// Policies are the ways a model's deployments share its traffic.
var Policies = []string{"latency", "weighted", "least_busy", "priority"}

// DefaultPolicy is the policy of a model that names none: power of two choices over each
// deployment's peak-EWMA latency, which follows a slowing upstream without any tuning.
const DefaultPolicy = "latency"

// Balancing is how a model spreads its requests over several deployments. A model has either
// a provider (the short form: one deployment) or a list of deployments.
type Balancing struct {
	Policy      string       `yaml:"policy" json:"policy,omitempty"`
	Deployments []Deployment `yaml:"deployments" json:"deployments,omitempty"`
	// LatencyDecay is how fast the latency policy forgets: an observation's weight halves in
	// about 0.7 × this, so a deployment that was slow is tried again once it may have recovered.
	LatencyDecay Duration `yaml:"latency_decay" json:"latency_decay,omitempty"`
}

// Deployment is one upstream copy of a model: a provider, the name it knows the model by, its
// share of the traffic, its tier and the limits that upstream enforces.
type Deployment struct {
	// Name labels the deployment's metrics and spans; default: the provider's name.
	Name          string `yaml:"name" json:"name"`
	Provider      string `yaml:"provider" json:"provider"`
	UpstreamModel string `yaml:"upstream_model" json:"upstream_model,omitempty"`
	// Weight is the deployment's share under the weighted and priority policies; nil means 1.
	Weight *int `yaml:"weight" json:"weight"`
	// Priority is the tier under the priority policy: the lowest tier with a healthy
	// deployment takes all traffic.
	Priority int `yaml:"priority" json:"priority"`
	// RPM and TPM are the requests and tokens per minute the upstream allows this deployment
	// (0: no limit); the gateway stays under them instead of collecting 429s.
	RPM int `yaml:"rpm" json:"rpm,omitempty"`
	TPM int `yaml:"tpm" json:"tpm,omitempty"`
}

// Targets are the model's deployments, the short form being one deployment named after its
// provider. Call it on a validated config: weights and the policy are set then.
func (m Model) Targets() []Deployment {
	if len(m.Deployments) > 0 {
		return m.Deployments
	}
	one := 1
	return []Deployment{{Name: m.Provider, Provider: m.Provider, UpstreamModel: m.Upstream(), Weight: &one}}
}

// Owner is the provider a model is listed under: its own, or its first deployment's.
func (m Model) Owner() string { return m.Targets()[0].Provider }

// Upstream is the model name this deployment sends upstream.
func (d Deployment) Upstream(public string) string {
	if d.UpstreamModel != "" {
		return d.UpstreamModel
	}
	return public
}

// routingDefaults fills a balanced model's defaults (policy, deployment names and weights), so
// `aiservice config` shows what the gateway does.
func (m *Model) routingDefaults() {
	if len(m.Deployments) == 0 {
		return
	}
	if m.Policy == "" {
		m.Policy = DefaultPolicy
	}
	for j := range m.Deployments {
		d := &m.Deployments[j]
		if d.Name == "" {
			d.Name = d.Provider
		}
		if d.Weight == nil {
			one := 1
			d.Weight = &one
		}
	}
}

// validateRouting checks how a model reaches its upstreams: one provider, or deployments.
func (m Model) validateRouting(field string, providers map[string]bool) []error {
	var errs []error
	bad := func(f, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", f, fmt.Sprintf(format, args...)))
	}
	switch {
	case m.Provider != "" && len(m.Deployments) > 0:
		bad(field, "has both provider and deployments: use one")
	case len(m.Deployments) == 0:
		if !providers[m.Provider] {
			bad(field+".provider", "unknown provider %q", m.Provider)
		}
		if m.Policy != "" {
			bad(field+".policy", "needs deployments to balance")
		}
		return errs
	}
	if !slices.Contains(Policies, m.Policy) {
		bad(field+".policy", "must be one of %v, not %q", Policies, m.Policy)
	}
	if m.LatencyDecay < 0 {
		bad(field+".latency_decay", "must not be negative")
	}
	names := map[string]bool{}
	for j, d := range m.Deployments {
		f := fmt.Sprintf("%s.deployments[%d]", field, j)
		if !providers[d.Provider] {
			bad(f+".provider", "unknown provider %q", d.Provider)
		}
		if names[d.Name] {
			bad(f+".name", "%q is used twice in this model: name each deployment of one provider", d.Name)
		}
		names[d.Name] = true
		if d.Weight != nil && *d.Weight < 1 {
			bad(f+".weight", "must be greater than 0, got %d", *d.Weight)
		}
		if d.Priority < 0 {
			bad(f+".priority", "must not be negative")
		}
		if d.RPM < 0 || d.TPM < 0 {
			bad(f, "rpm and tpm must not be negative (0: no limit)")
		}
	}
	return errs
}
