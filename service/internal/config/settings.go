package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// setting is one value an environment variable or a flag may override, defined once: its YAML
// path (named in errors and in the flag's help), its variable, its flag. The path alone says how
// the text is parsed and where it goes (assign, by the field's type); assign is set only where a
// path does not name one field.
type setting struct {
	path, env, flag string
	assign          func(c *Config, v string) error
}

// settings is every override; the README's configuration table shows the same (TestSettingsDocumented).
var settings = []setting{
	{path: "addr", env: "AISERVICE_ADDR", flag: "addr"},
	{path: "env", env: "ENV", flag: "env"},
	{path: "log_level", env: "AISERVICE_LOG_LEVEL", flag: "log-level"},
	{path: "api_keys", env: "AISERVICE_API_KEYS", flag: "api-keys"},
	{path: "max_body_bytes", env: "AISERVICE_MAX_BODY_BYTES", flag: "max-body-bytes"},
	{path: "default_model", env: "AISERVICE_DEFAULT_MODEL", flag: "default-model"},
	{path: "debug_addr", env: "AISERVICE_DEBUG_ADDR", flag: "debug-addr"},
	{path: "metrics_addr", flag: "metrics-addr"},
	{path: "shutdown.grace_period", env: "AISERVICE_SHUTDOWN_GRACE_PERIOD", flag: "grace-period"},
	{path: "shutdown.pre_drain_delay", env: "AISERVICE_SHUTDOWN_PRE_DRAIN_DELAY", flag: "pre-drain-delay"},
	{path: "resilience.max_in_flight", env: "AISERVICE_MAX_IN_FLIGHT", flag: "max-in-flight"},
	{path: "resilience.max_streams", env: "AISERVICE_MAX_STREAMS", flag: "max-streams"},
	{path: "telemetry.otlp_endpoint", env: "OTLP_ENDPOINT", flag: "otlp-endpoint"},
	{path: "telemetry.record_content", env: "AISERVICE_RECORD_CONTENT"},
	{path: "simulator.fault_injection", flag: "sim-fault-injection"},
	// The variable OpenAI's own SDKs read, so one export points SDK and gateway alike.
	{path: "providers.openai.base_url", env: "OPENAI_BASE_URL", assign: func(c *Config, v string) error {
		for i := range c.Providers {
			if c.Providers[i].Name == "openai" {
				c.Providers[i].BaseURL = v
			}
		}
		return nil
	}},
}

// apply sets the setting from text read from source (a variable or a flag), naming both on error.
func (s setting) apply(c *Config, v, source string) error {
	var err error
	if s.assign != nil {
		err = s.assign(c, v)
	} else {
		err = assignPath(reflect.ValueOf(c).Elem(), s.path, v)
	}
	if err != nil {
		return fmt.Errorf("%s (%s): %w", source, s.path, err)
	}
	return nil
}

var durationType = reflect.TypeFor[Duration]()

// assignPath parses v into the field at a dotted YAML path below root.
func assignPath(root reflect.Value, path, v string) error {
	f, ok := field(root, path)
	if !ok {
		return errors.New("unknown setting")
	}
	switch {
	case f.Type() == durationType:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 30s", v)
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(v)
	case f.Kind() == reflect.Int || f.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(v, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		f.SetInt(n)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		f.SetBool(b)
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		// A comma-separated list, blanks dropped: "k1, ,k2" is two keys.
		list := reflect.MakeSlice(f.Type(), 0, strings.Count(v, ",")+1)
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = reflect.Append(list, reflect.ValueOf(item).Convert(f.Type().Elem()))
			}
		}
		f.Set(list)
	default:
		return fmt.Errorf("a %s cannot be set from text", f.Type())
	}
	return nil
}

// field finds the struct field a dotted YAML path names.
func field(v reflect.Value, path string) (reflect.Value, bool) {
	name, rest, more := strings.Cut(path, ".")
	for i := range v.NumField() {
		if tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ","); tag == name {
			f := v.Field(i)
			if !more {
				return f, true
			}
			if f.Kind() != reflect.Struct {
				return reflect.Value{}, false
			}
			return field(f, rest)
		}
	}
	return reflect.Value{}, false
}

func applyEnv(cfg *Config, getenv func(string) string) error {
	for _, s := range settings {
		if s.env == "" {
			continue
		}
		if v := getenv(s.env); v != "" {
			if err := s.apply(cfg, v, s.env); err != nil {
				return err
			}
		}
	}
	// Provider keys come from the variable each provider names.
	for i := range cfg.Providers {
		if env := cfg.Providers[i].APIKeyEnv; env != "" && cfg.Providers[i].APIKey == "" {
			cfg.Providers[i].APIKey = Secret(getenv(env))
		}
	}
	return nil
}

// flagSet holds the settings' flags as parsed, and --config, which names the file and is no setting.
type flagSet struct {
	fs     *flag.FlagSet
	config string
}

func newFlagSet() *flagSet {
	f := &flagSet{fs: flag.NewFlagSet("aiservice serve", flag.ContinueOnError)}
	f.fs.SetOutput(io.Discard)
	f.fs.StringVar(&f.config, "config", "", "YAML config file (also AISERVICE_CONFIG)")
	for _, s := range settings {
		if s.flag != "" {
			f.fs.String(s.flag, "", s.help())
		}
	}
	return f
}

func (s setting) help() string {
	if s.env != "" {
		return "sets " + s.path + " (also " + s.env + ")"
	}
	return "sets " + s.path
}

// applyFlags sets the settings whose flags were given.
func (f *flagSet) applyFlags(cfg *Config) error {
	given := map[string]string{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = fl.Value.String() })
	for _, s := range settings {
		if v, ok := given[s.flag]; ok && s.flag != "" {
			if err := s.apply(cfg, v, "--"+s.flag); err != nil {
				return err
			}
		}
	}
	return nil
}

// Flags writes the flags of `aiservice serve`, one a line, for its help.
func Flags(w io.Writer) {
	f := newFlagSet()
	f.fs.SetOutput(w)
	f.fs.PrintDefaults()
}
