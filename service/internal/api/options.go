package api

import "aiservice/service/internal/config"

// Options are the settings the HTTP layer obeys: not the whole configuration, so the layer that
// faces clients never holds the providers' keys.
type Options struct {
	Timeouts     config.Timeouts
	DefaultModel string
	Models       []config.Model
	MaxBodyBytes int64
	SLO          config.SLO
	// Cache is the response cache's default policy (a key's own policy overrides it).
	Cache config.Cache
	// MetricsAddr, when set, takes /metrics off the API's routes (cmd/aiservice serves it there).
	MetricsAddr string
}

// OptionsFrom picks the HTTP layer's settings out of a configuration.
func OptionsFrom(c *config.Config) Options {
	return Options{Timeouts: c.Timeouts, DefaultModel: c.DefaultModel, Models: c.Models, MaxBodyBytes: c.MaxBodyBytes,
		SLO: c.SLO, Cache: c.Cache, MetricsAddr: c.MetricsAddr}
}
