package config

import (
	"errors"
	"fmt"
)

// Responses are the settings of the Responses API's stored conversations (`store: true`,
// previous_response_id, GET/DELETE /v1/responses/{id}).
type Responses struct {
	// StoreMaxEntries and StoreMaxBytes bound the embedded store; the least recently used
	// responses go first.
	StoreMaxEntries int   `yaml:"store_max_entries" json:"store_max_entries"`
	StoreMaxBytes   int64 `yaml:"store_max_bytes" json:"store_max_bytes"`
	// StoreTTL is how long a stored response can be read or continued.
	StoreTTL Duration `yaml:"store_ttl" json:"store_ttl"`
}

// validateResponses checks the responses section and the providers' api.
func (c *Config) validateResponses() error {
	var errs []error
	r := c.Responses
	if r.StoreMaxEntries < 1 {
		errs = append(errs, bad("responses.store_max_entries", "must be at least 1, got %d", r.StoreMaxEntries))
	}
	if r.StoreMaxBytes < 1024 {
		errs = append(errs, bad("responses.store_max_bytes", "must be at least 1024, got %d", r.StoreMaxBytes))
	}
	if r.StoreTTL <= 0 {
		errs = append(errs, bad("responses.store_ttl", "must be a positive duration"))
	}
	for i, p := range c.Providers {
		if p.API != "" && p.API != "chat" && p.API != "responses" {
			errs = append(errs, bad(fmt.Sprintf("providers[%d].api", i), "must be chat or responses, not %q", p.API))
		}
	}
	return errors.Join(errs...)
}
