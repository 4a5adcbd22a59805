package config

import (
	"errors"
	"fmt"
	"slices"
)

// ProviderDialect is what a provider speaks and how the gateway translates to it: the Messages
// dialect of Anthropic upstreams (and of the simulator, when asked), and what to do with what
// cannot be translated.
type ProviderDialect struct {
	// Dialect of a `type: sim` provider: "openai" (default) or "anthropic" (the simulator's
	// /v1/messages). A `type: anthropic` provider always speaks anthropic.
	Dialect string `yaml:"dialect" json:"dialect,omitempty"`
	// AnthropicVersion is the anthropic-version header sent when the client sent none.
	AnthropicVersion string `yaml:"anthropic_version" json:"anthropic_version,omitempty"`
	// DropUnsupported drops request fields the provider's dialect cannot express (n > 1 to
	// Anthropic, thinking to OpenAI…) instead of answering 400 naming them.
	DropUnsupported bool `yaml:"drop_unsupported" json:"drop_unsupported,omitempty"`
}

// DefaultAnthropicVersion is the anthropic-version the gateway sends unless told otherwise.
const DefaultAnthropicVersion = "2023-06-01"

// Speaks is the provider's dialect: "anthropic" or "openai".
func (p Provider) Speaks() string {
	if p.Type == "anthropic" || p.Type == "sim" && p.Dialect == "anthropic" {
		return "anthropic"
	}
	return "openai"
}

// Version is the anthropic-version header to send.
func (p Provider) Version() string {
	if p.AnthropicVersion != "" {
		return p.AnthropicVersion
	}
	return DefaultAnthropicVersion
}

func (p Provider) validateDialect(f string) error {
	var errs []error
	if p.Dialect != "" && !slices.Contains([]string{"openai", "anthropic"}, p.Dialect) {
		errs = append(errs, bad(f+".dialect", "must be openai or anthropic, not %q", p.Dialect))
	}
	if p.Dialect != "" && p.Type != "sim" && p.Dialect != p.Speaks() {
		errs = append(errs, bad(f+".dialect", "only a sim provider chooses its dialect; a %s provider speaks %s", p.Type, p.Speaks()))
	}
	if p.API == "responses" && p.Speaks() == "anthropic" {
		// It would be ignored: Responses reach an Anthropic upstream translated to chat, then Messages.
		errs = append(errs, bad(f+".api", "a provider speaking anthropic serves the Responses API by translation: api must be chat"))
	}
	return errors.Join(errs...)
}

// validateDialectModels refuses image and embedding models on a provider that speaks
// Anthropic's dialect (as a model's provider or as one of its deployments): the Messages API
// has neither.
func (c *Config) validateDialectModels() error {
	speaks := map[string]string{}
	for _, p := range c.Providers {
		speaks[p.Name] = p.Speaks()
	}
	var errs []error
	for i, m := range c.Models {
		if m.Kind == "" || m.Kind == "chat" {
			continue
		}
		for _, t := range m.Targets() {
			if speaks[t.Provider] == "anthropic" {
				errs = append(errs, bad(fmt.Sprintf("models[%d].kind", i), "%q is a %s model on %q, whose dialect (anthropic) serves chat only", m.Name, m.Kind, t.Provider))
			}
		}
	}
	return errors.Join(errs...)
}
