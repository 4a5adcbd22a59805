package config

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// settingCases has one row per entry of settings: a value, the field it must land in, and a
// value its parser refuses ("" where any text is accepted and only Validate may refuse it).
var settingCases = []struct {
	path, value, bad string
	got              func(*Config) any
	want             any
}{
	{"addr", "127.0.0.1:1234", "", func(c *Config) any { return c.Addr }, "127.0.0.1:1234"},
	{"env", "production", "", func(c *Config) any { return c.Env }, "production"},
	{"log_level", "debug", "", func(c *Config) any { return c.LogLevel }, "debug"},
	{"api_keys", " a, ,b ", "", func(c *Config) any { return c.APIKeys }, Secrets{"a", "b"}},
	{"max_body_bytes", "4096", "1MB", func(c *Config) any { return c.MaxBodyBytes }, int64(4096)},
	{"default_model", "gpt-4o", "", func(c *Config) any { return c.DefaultModel }, "gpt-4o"},
	{"debug_addr", "127.0.0.1:6061", "", func(c *Config) any { return c.DebugAddr }, "127.0.0.1:6061"},
	{"metrics_addr", "127.0.0.1:9091", "", func(c *Config) any { return c.MetricsAddr }, "127.0.0.1:9091"},
	{"shutdown.grace_period", "7s", "10", func(c *Config) any { return c.Shutdown.GracePeriod.D() }, 7 * time.Second},
	{"shutdown.pre_drain_delay", "2s", "soon", func(c *Config) any { return c.Shutdown.PreDrainDelay.D() }, 2 * time.Second},
	{"resilience.max_in_flight", "7", "1.5", func(c *Config) any { return c.Resilience.MaxInFlight }, 7},
	{"resilience.max_streams", "9", "lots", func(c *Config) any { return c.Resilience.MaxStreams }, 9},
	{"telemetry.otlp_endpoint", "http://127.0.0.1:4318", "", func(c *Config) any { return c.Telemetry.OTLPEndpoint }, "http://127.0.0.1:4318"},
	{"telemetry.record_content", "true", "yes please", func(c *Config) any { return c.Telemetry.RecordContent }, true},
	{"simulator.fault_injection", "true", "on", func(c *Config) any { return c.Simulator.FaultInjection }, true},
	{"providers.openai.base_url", "http://127.0.0.1:9/v1", "", func(c *Config) any {
		for _, p := range c.Providers {
			if p.Name == "openai" {
				return p.BaseURL
			}
		}
		return nil
	}, "http://127.0.0.1:9/v1"},
}

// source is one way a setting can be given: its variable or its flag.
type source struct {
	name string
	args []string
	env  map[string]string
}

func sources(s setting, value string) []source {
	var out []source
	if s.env != "" {
		out = append(out, source{s.env, nil, map[string]string{s.env: value}})
	}
	if s.flag != "" {
		out = append(out, source{"--" + s.flag, []string{"--" + s.flag, value}, nil})
	}
	return out
}

func settingOf(t *testing.T, path string) setting {
	t.Helper()
	for _, s := range settings {
		if s.path == path {
			return s
		}
	}
	t.Fatalf("no setting %s", path)
	return setting{}
}

func TestEverySettingHasACase(t *testing.T) {
	cases := map[string]bool{}
	for _, tc := range settingCases {
		cases[tc.path] = true
	}
	envs, flags := map[string]bool{}, map[string]bool{}
	for _, s := range settings {
		if !cases[s.path] {
			t.Errorf("setting %s has no row in settingCases", s.path)
		}
		if s.env == "" && s.flag == "" {
			t.Errorf("setting %s has neither a variable nor a flag", s.path)
		}
		if envs[s.env] || flags[s.flag] {
			t.Errorf("setting %s reuses a variable or flag", s.path)
		}
		envs[s.env], flags[s.flag] = s.env != "", s.flag != ""
		if s.assign == nil {
			if _, ok := field(reflect.ValueOf(&Config{}).Elem(), s.path); !ok {
				t.Errorf("setting %s names no field", s.path)
			}
		}
	}
}

func TestEverySourceSetsItsField(t *testing.T) {
	for _, tc := range settingCases {
		for _, src := range sources(settingOf(t, tc.path), tc.value) {
			t.Run(src.name, func(t *testing.T) {
				cfg, err := Load(src.args, env(src.env))
				if err != nil {
					t.Fatal(err)
				}
				if got := tc.got(cfg); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s=%q set %s to %#v, want %#v", src.name, tc.value, tc.path, got, tc.want)
				}
			})
		}
	}
}

func TestEveryBadValueNamesItsSource(t *testing.T) {
	for _, tc := range settingCases {
		if tc.bad == "" {
			continue
		}
		for _, src := range sources(settingOf(t, tc.path), tc.bad) {
			t.Run(src.name, func(t *testing.T) {
				_, err := Load(src.args, env(src.env))
				if want := src.name + " (" + tc.path + "): "; err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("error %v, want one starting %q", err, want)
				}
				if !strings.Contains(err.Error(), tc.bad) {
					t.Errorf("error %v does not quote the bad value %q", err, tc.bad)
				}
			})
		}
	}
}

// TestSettingsDocumented keeps the README's configuration table and the flags' help true to
// the settings table.
func TestSettingsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var help bytes.Buffer
	Flags(&help)
	for _, s := range settings {
		if s.env != "" && !bytes.Contains(readme, []byte("`"+s.env+"`")) {
			t.Errorf("README does not name %s (%s)", s.env, s.path)
		}
		if s.flag == "" {
			continue
		}
		if !bytes.Contains(readme, []byte("`--"+s.flag+"`")) {
			t.Errorf("README does not name --%s (%s)", s.flag, s.path)
		}
		if !strings.Contains(help.String(), "-"+s.flag+" string\n    \tsets "+s.path) {
			t.Errorf("the flags' help lacks -%s setting %s:\n%s", s.flag, s.path, help.String())
		}
	}
}

// FuzzSetting gives any text to any setting, as a variable and as a flag: Load never panics, a
// value its parser refuses is an error naming the source and the setting, and one it takes
// either validates or is refused by Validate.
func FuzzSetting(f *testing.F) {
	for i, tc := range settingCases {
		f.Add(uint8(i), tc.value)
		f.Add(uint8(i), tc.bad)
	}
	f.Add(uint8(3), ",,, ,")
	f.Add(uint8(4), "99999999999999999999")
	f.Add(uint8(8), "-1s")
	f.Fuzz(func(t *testing.T, i uint8, value string) {
		s := settings[int(i)%len(settings)]
		for _, src := range sources(s, value) {
			cfg, err := Load(src.args, env(src.env))
			switch {
			case err == nil && cfg == nil:
				t.Fatal("no config and no error")
			case err != nil && cfg != nil:
				t.Fatal("a config returned with an error")
			case err != nil && strings.Contains(err.Error(), "("+s.path+")") && !strings.HasPrefix(err.Error(), src.name+" ("+s.path+"): "):
				t.Fatalf("a parse error that does not start with its source: %v", err)
			}
		}
	})
}
