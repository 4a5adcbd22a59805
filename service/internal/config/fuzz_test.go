package config

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"aiservice/service/internal/testkit"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"addr: 0.0.0.0:9000\nenv: production\n",
		"timeouts:\n  chat: 3s\n  stream: 1m\n",
		"timeouts: {chat: soon}\n",
		"adress: x\n",
		"providers:\n  - {name: local, type: openai, base_url: 'http://127.0.0.1:1/v1'}\nmodels:\n  - {name: m, provider: local}\ndefault_model: m\nagents: []\n",
		"prices: {x: {input_per_1m: 1, per_image: {1024x1024/low: 0.1}}}\n",
		"slo: {latency_thresholds: {chat: 1s}}\n",
		"telemetry: {sample_ratio: .nan}\n",
		"simulator: {error_rate: .inf}\n",
		"a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n",
		"- a\n- b\n",
		"[[[[[[[[[[[[[[[[[[[[\n",
		"api_keys: [k1, k2]\n",
		"---\naddr: 127.0.0.1:1\n---\naddr: nope\n",
		"models:\n  - {name: gpt-4o-mini, policy: weighted, latency_decay: 2s, deployments: [{provider: sim, weight: 3, rpm: 60}, {name: b, provider: sim, priority: 1, tpm: 1000}]}\nagents: []\n",
		"models:\n  - {name: gpt-4o-mini, provider: sim, deployments: [{provider: sim, weight: 0}]}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return // config files are small; keep each input cheap
		}
		var cfg *Config
		var err error
		testkit.Bounded(t, 5*time.Second, func() { cfg, err = Parse(b) })
		if err != nil {
			if cfg != nil {
				t.Fatal("a config returned with an error")
			}
			if err.Error() == "" {
				t.Fatal("an empty error message")
			}
			return
		}
		// A valid config validates again unchanged.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("a parsed config fails validation: %v", err)
		}
		// Written out as YAML and read back, it is the same config.
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("the config written back does not parse: %v\n%s", err, out)
		}
		// Compared as YAML, where a nil list and an empty one are the same.
		if d := diff(cfg, again); d != "" {
			t.Fatalf("round trip changed the config:\n%s", d)
		}
		// Every number the service computes with is finite: NaN passes every range check
		// written as "x < lo || x > hi", so a config must never hold one.
		finite(t, "", reflect.ValueOf(cfg).Elem())
	})
}

// finite fails the test on any NaN or infinite float reachable from v.
func finite(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			t.Fatalf("%s = %v in a valid config", path, f)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			finite(t, path, v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			finite(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Slice:
		for i := range v.Len() {
			finite(t, fmt.Sprintf("%s[%d]", path, i), v.Index(i))
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			finite(t, fmt.Sprintf("%s[%v]", path, it.Key()), it.Value())
		}
	}
}

// diff shows the two configs as YAML, line by line where they differ.
func diff(a, b *Config) string {
	ya, _ := yaml.Marshal(a)
	yb, _ := yaml.Marshal(b)
	la, lb := strings.Split(string(ya), "\n"), strings.Split(string(yb), "\n")
	var sb strings.Builder
	for i := 0; i < max(len(la), len(lb)); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			sb.WriteString("- " + x + "\n+ " + y + "\n")
		}
	}
	return sb.String()
}
