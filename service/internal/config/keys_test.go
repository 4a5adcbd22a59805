package config

import (
	"slices"
	"strings"
	"testing"
)

func TestValidateKeys(t *testing.T) {
	const hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for _, tc := range []struct {
		name, yaml, bad string // bad: "" valid, else a field the error names
	}{
		{"a key by hash", `keys: [{name: a, hash: ` + hash + `, rpm: 10, daily_usd: 1}]`, ""},
		{"a key from the environment", `keys: [{name: a, key_env: A_KEY}]`, ""},
		{"neither hash nor key_env", `keys: [{name: a}]`, "keys[0]"},
		{"both", `keys: [{name: a, hash: ` + hash + `, key_env: A}]`, "keys[0]"},
		{"a plain key as hash", `keys: [{name: a, hash: sk-plain}]`, "keys[0].hash"},
		{"a name that is no label", `keys: [{name: "A B", key_env: A}]`, "keys[0].name"},
		{"a name twice", `keys: [{name: a, key_env: A}, {name: a, key_env: B}]`, "keys[1].name"},
		{"an unknown model", `keys: [{name: a, key_env: A, models: [nope]}]`, "keys[0].models"},
		{"a negative limit", `keys: [{name: a, key_env: A, rpm: -1}]`, "keys[0]"},
		{"a limit too large to time", `keys: [{name: a, key_env: A, tpm: 2000000000}]`, "keys[0]"},
		{"a NaN budget", `keys: [{name: a, key_env: A, daily_usd: .nan}]`, "keys[0]"},
		{"a bad store url", `store: {url: "http://x"}`, "store.url"},
		{"a cluster's seed nodes", `store: {url: "redis://10.0.0.1:6379?addr=10.0.0.2:6379", cluster: true}`, ""},
		{"a cluster without a url", `store: {cluster: true}`, "store.cluster"},
		{"a cluster's database", `store: {url: "redis://10.0.0.1:6379/2", cluster: true}`, "store.url"},
		{"a bad failure mode", `store: {failure_mode: maybe}`, "store.failure_mode"},
		{"no replicas", `store: {replicas: 0}`, "store"},
		{"a bad stream mode", `limits: {stream_over_budget: later}`, "limits.stream_over_budget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			switch {
			case tc.bad == "" && err != nil:
				t.Fatal(err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad+":")):
				t.Fatalf("want an error naming %s, got %v", tc.bad, err)
			}
		})
	}
	c, err := Parse([]byte(`keys: [{name: a, key_env: A_KEY}]`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.EnvVars(), "A_KEY") {
		t.Fatalf("aiservice config --env must list a key's variable: %v", c.EnvVars())
	}
}
