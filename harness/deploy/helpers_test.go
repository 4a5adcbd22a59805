package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the monorepo root: the tests read the real files, never copies.
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	root := filepath.Clean(filepath.Join(wd, "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("repository root not found from %s: %v", wd, err)
	}
	return root
}

// --- The service binary, built exactly as service/Dockerfile builds it --------------------

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// serviceBinary builds ./cmd/aiservice once per test run the way the Dockerfile does: in the
// service module alone (GOWORK=off, the module-only build context), static (CGO_ENABLED=0),
// -trimpath. So the consistency tests read the configuration of the very binary an image would
// contain, and a service module that only builds inside the workspace fails here, as the image
// build would.
func serviceBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		root := repoRoot(t)
		binDir, binErr = os.MkdirTemp("", "aiservice-deploy-*")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "aiservice")
		cmd := exec.Command("go", "build", "-trimpath", "-o", binPath, "./cmd/aiservice")
		cmd.Dir = filepath.Join(root, "service")
		cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("building the service as service/Dockerfile does (cd service && GOWORK=off CGO_ENABLED=0 go build -trimpath ./cmd/aiservice): %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// serviceConfig is the part of `aiservice config` output the deployment depends on.
type serviceConfig struct {
	Addr     string `json:"addr"`
	Env      string `json:"env"`
	LogLevel string `json:"log_level"`
	Shutdown struct {
		GracePeriod   goDuration `json:"grace_period"`
		PreDrainDelay goDuration `json:"pre_drain_delay"`
	} `json:"shutdown"`
	Telemetry struct {
		ServiceName  string `json:"service_name"`
		OTLPEndpoint string `json:"otlp_endpoint"`
	} `json:"telemetry"`
	Models []struct {
		Name     string `json:"name"`
		Provider string `json:"provider"`
	} `json:"models"`
}

// goDuration decodes the Go duration strings ("30s") that `aiservice config` prints.
type goDuration time.Duration

func (d *goDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = goDuration(v)
	return nil
}

func (d goDuration) D() time.Duration { return time.Duration(d) }

// effectiveConfig runs `aiservice config` with exactly env (nothing inherited from the test's
// own environment, so a developer's AISERVICE_* variables cannot change the result) and, when
// configYAML is not empty, that YAML as the file AISERVICE_CONFIG names.
func effectiveConfig(t testing.TB, env map[string]string, configYAML string) (serviceConfig, error) {
	t.Helper()
	bin := serviceBinary(t)
	env = cloneMap(env)
	if configYAML != "" {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(configYAML), 0o600); err != nil {
			t.Fatal(err)
		}
		env["AISERVICE_CONFIG"] = path
	} else {
		delete(env, "AISERVICE_CONFIG")
	}
	cmd := exec.Command(bin, "config")
	cmd.Env = envList(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return serviceConfig{}, fmt.Errorf("aiservice config: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var cfg serviceConfig
	if err := json.Unmarshal(stdout.Bytes(), &cfg); err != nil {
		return serviceConfig{}, fmt.Errorf("aiservice config printed no JSON config: %w\n%s", err, stdout.String())
	}
	return cfg, nil
}

var (
	envNamesOnce sync.Once
	envNamesSet  map[string]bool
	envNamesErr  error
)

// serviceEnvNames is the set `aiservice config --env` prints: every variable the service reads.
func serviceEnvNames(t testing.TB) map[string]bool {
	t.Helper()
	bin := serviceBinary(t)
	envNamesOnce.Do(func() {
		cmd := exec.Command(bin, "config", "--env")
		cmd.Env = []string{}
		out, err := cmd.Output()
		if err != nil {
			envNamesErr = fmt.Errorf("aiservice config --env: %w", err)
			return
		}
		envNamesSet = map[string]bool{}
		for _, l := range strings.Split(string(out), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				envNamesSet[l] = true
			}
		}
		if len(envNamesSet) == 0 {
			envNamesErr = errors.New("aiservice config --env printed no names")
		}
	})
	if envNamesErr != nil {
		t.Fatal(envNamesErr)
	}
	return envNamesSet
}

// serviceDefaults is the configuration with no file, no environment and no flags.
func serviceDefaults(t testing.TB) serviceConfig {
	t.Helper()
	cfg, err := effectiveConfig(t, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
