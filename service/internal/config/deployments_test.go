package config

import (
	"strings"
	"testing"
)

const twoUpstreams = `
providers:
  - {name: east, type: openai, base_url: "http://east.example/v1"}
  - {name: west, type: openai, base_url: "http://west.example/v1"}
`

// A model's deployments: the defaults Validate fills in, and every rule it names.
func TestDeployments(t *testing.T) {
	for _, tc := range []struct {
		name, models string
		want         string // a substring of the error; "" for valid
	}{
		{"short form", `{name: gpt-4o-mini, provider: east}`, ""},
		{"deployments", `{name: gpt-4o-mini, deployments: [{provider: east, weight: 3}, {provider: west}]}`, ""},
		{"every policy", `{name: gpt-4o-mini, policy: priority, deployments: [{provider: east}, {provider: west, priority: 1}]}`, ""},
		{"both forms", `{name: gpt-4o-mini, provider: east, deployments: [{provider: west}]}`, "has both provider and deployments"},
		{"neither", `{name: gpt-4o-mini}`, `unknown provider ""`},
		{"unknown provider", `{name: gpt-4o-mini, deployments: [{provider: north}]}`, `deployments[0].provider: unknown provider "north"`},
		{"zero weight", `{name: gpt-4o-mini, deployments: [{provider: east, weight: 0}]}`, "deployments[0].weight: must be greater than 0"},
		{"negative weight", `{name: gpt-4o-mini, deployments: [{provider: east, weight: -2}]}`, "must be greater than 0"},
		{"bad policy", `{name: gpt-4o-mini, policy: random, deployments: [{provider: east}]}`, `policy: must be one of`},
		{"policy without deployments", `{name: gpt-4o-mini, provider: east, policy: weighted}`, "needs deployments"},
		{"same name twice", `{name: gpt-4o-mini, deployments: [{provider: east}, {provider: east}]}`, `"east" is used twice`},
		{"named twice on one provider", `{name: gpt-4o-mini, deployments: [{provider: east, name: a}, {provider: east, name: b}]}`, ""},
		{"negative rpm", `{name: gpt-4o-mini, deployments: [{provider: east, rpm: -1}]}`, "rpm and tpm must not be negative"},
		{"negative priority", `{name: gpt-4o-mini, deployments: [{provider: east, priority: -1}]}`, "priority: must not be negative"},
		{"negative decay", `{name: gpt-4o-mini, latency_decay: -1s, deployments: [{provider: east}]}`, "latency_decay: must not be negative"},
		{"typo in a deployment", `{name: gpt-4o-mini, deployments: [{provider: east, wieght: 2}]}`, "wieght"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(twoUpstreams + "models:\n  - " + tc.models + "\nagents: []\n"))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				for _, d := range cfg.Models[0].Targets() {
					if d.Name == "" || d.Weight == nil || *d.Weight < 1 {
						t.Errorf("deployment %+v: name and weight not filled in", d)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// The short form is one deployment named after its provider, sending the upstream name; the
// long form gets the default policy and weights.
func TestTargets(t *testing.T) {
	cfg, err := Parse([]byte(twoUpstreams + `models:
  - {name: gpt-4o-mini, provider: east, upstream_model: mini-2024}
  - {name: gpt-4o, deployments: [{provider: east, weight: 3, rpm: 60}, {provider: west, upstream_model: gpt-4o-eu}]}
agents: []
`))
	if err != nil {
		t.Fatal(err)
	}
	short := cfg.Models[0].Targets()
	if len(short) != 1 || short[0].Name != "east" || short[0].Upstream("gpt-4o-mini") != "mini-2024" || *short[0].Weight != 1 {
		t.Errorf("short form targets %+v", short)
	}
	long := cfg.Models[1]
	if long.Policy != DefaultPolicy || long.Owner() != "east" {
		t.Errorf("policy %q, owner %q", long.Policy, long.Owner())
	}
	d := long.Targets()
	if len(d) != 2 || *d[0].Weight != 3 || d[0].RPM != 60 || *d[1].Weight != 1 || d[1].Upstream("gpt-4o") != "gpt-4o-eu" || d[0].Upstream("gpt-4o") != "gpt-4o" {
		t.Errorf("deployments %+v", d)
	}
}
