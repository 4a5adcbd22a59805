// Package keys is who a client is: the configured virtual keys (each with a name, a team,
// its allowed models and its limits) and the plain api_keys (keys without limits). Keys are
// held as SHA-256 digests only and looked up in constant time; the key text is never kept,
// logged or counted.
package keys

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"aiservice/service/internal/config"
)

// Key is an authenticated client key. Name is empty for a plain api_keys entry.
type Key struct {
	Name, Team string
	models     []string // empty: every model
	// Limits are the key's limits as configured (zero: none).
	RPM, TPM, MaxParallel int
	DailyUSD, MonthlyUSD  float64
	Cache                 string // the response-cache policy: off, key, team, shared; empty: the default
}

// Allows reports whether the key may use a model.
func (k *Key) Allows(model string) bool {
	return len(k.models) == 0 || slices.Contains(k.models, model)
}

// Limited reports whether the key has any limit or budget.
func (k *Key) Limited() bool {
	return k.RPM > 0 || k.TPM > 0 || k.MaxParallel > 0 || k.DailyUSD > 0 || k.MonthlyUSD > 0
}

// ErrInvalid is an unknown or revoked key (the two are not told apart to the client).
var ErrInvalid = errors.New("unknown or revoked API key")

// Registry looks keys up by their digest.
type Registry struct {
	digests [][32]byte
	keys    []*Key // nil: revoked
}

// New builds the registry from the plain api_keys and the virtual keys; a key_env variable
// is read (and the key hashed) here, once.
func New(plain config.Secrets, virtual []config.VirtualKey, getenv func(string) string) (*Registry, error) {
	r := &Registry{}
	for _, k := range plain {
		r.digests, r.keys = append(r.digests, sha256.Sum256([]byte(k))), append(r.keys, &Key{})
	}
	for _, v := range virtual {
		var d [32]byte
		if v.KeyEnv != "" {
			text := getenv(v.KeyEnv)
			if text == "" {
				return nil, fmt.Errorf("keys %q: environment variable %s is empty", v.Name, v.KeyEnv)
			}
			d = sha256.Sum256([]byte(text))
		} else if _, err := hex.Decode(d[:], []byte(strings.TrimPrefix(string(v.Hash), "sha256:"))); err != nil {
			return nil, fmt.Errorf("keys %q: hash: %w", v.Name, err)
		}
		var k *Key
		if !v.Revoked {
			k = &Key{Name: v.Name, Team: v.Team, models: v.Models, RPM: v.RPM, TPM: v.TPM, MaxParallel: v.MaxParallel,
				DailyUSD: v.DailyUSD, MonthlyUSD: v.MonthlyUSD, Cache: v.Cache}
		}
		r.digests, r.keys = append(r.digests, d), append(r.keys, k)
	}
	return r, nil
}

// Required reports whether requests need a key.
func (r *Registry) Required() bool { return len(r.digests) > 0 }

// Names are the virtual keys' names (the bounded label set of the per-key metrics).
func (r *Registry) Names() []string {
	var out []string
	for _, k := range r.keys {
		if k != nil && k.Name != "" {
			out = append(out, k.Name)
		}
	}
	return out
}

// Lookup finds a key. It compares the digest with every key's in constant time, so neither
// which key matched nor the key's length leaks through timing.
func (r *Registry) Lookup(token string) (*Key, error) {
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range r.digests {
		if subtle.ConstantTimeCompare(sum[:], r.digests[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 || r.keys[found] == nil {
		return nil, ErrInvalid
	}
	return r.keys[found], nil
}
