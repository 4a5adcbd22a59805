package bdd

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cucumber/godog"
	"gopkg.in/yaml.v3"
)

// registerKeySteps are the steps of features/keys_and_limits.feature: virtual keys written
// into the service's config the way an operator does, as the SHA-256 of the key.
func (w *world) registerKeySteps(sc *godog.ScenarioContext) {
	sc.Step(`^the service (?:is running with|has) the virtual key "([^"]+)" named "([^"]+)" with:$`, func(key, name string, t *godog.Table) error {
		fields := map[string]any{}
		for _, r := range t.Rows {
			if len(r.Cells) != 2 {
				return errors.New("the key's table has two columns: field | value")
			}
			var v any
			if err := yaml.Unmarshal([]byte(r.Cells[1].Value), &v); err != nil {
				return fmt.Errorf("key field %s: %w", r.Cells[0].Value, err)
			}
			fields[strings.TrimSpace(r.Cells[0].Value)] = v
		}
		return w.addKey(key, name, fields)
	})
}

// addKey appends a virtual key to the scenario's `keys` setting.
func (w *world) addKey(key, name string, fields map[string]any) error {
	d := sha256.Sum256([]byte(key))
	fields["name"], fields["hash"] = name, "sha256:"+hex.EncodeToString(d[:])
	var list []map[string]any
	rest := w.settings[:0:0]
	for _, s := range w.settings {
		if s.key == "keys" {
			if err := json.Unmarshal([]byte(s.value), &list); err != nil {
				return err
			}
			continue
		}
		rest = append(rest, s)
	}
	b, err := json.Marshal(append(list, fields)) // JSON is YAML
	if err != nil {
		return err
	}
	w.settings = rest
	return w.configure(setting{"keys", string(b)})
}
