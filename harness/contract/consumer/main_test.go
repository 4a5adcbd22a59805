package consumer

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pact-foundation/pact-go/v2/consumer"

	"aiservice/harness/contract/internal/pactkit"
)

// pactDir is a scratch folder the mock servers write to during the run. Only a complete,
// successful run copies its files over harness/pacts: a failed or filtered run (-run) must not
// leave a committed contract with interactions missing, and starting from an empty folder means
// an interaction deleted from the tests disappears from the contract too (pact-go merges into an
// existing file otherwise).
var pactDir string

func TestMain(m *testing.M) {
	flag.Parse()
	pactkit.QuietLogs()
	dir, err := os.MkdirTemp("", "aiservice-pacts-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pactDir = dir
	code := m.Run()
	if code == 0 {
		if err := publish(dir); err != nil {
			fmt.Fprintln(os.Stderr, "publish pact files:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// publish copies the pact files written by this run to harness/pacts, rewriting only files whose
// content changed so that a re-run leaves the tree untouched.
func publish(dir string) error {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			fmt.Fprintf(os.Stderr, "pact files in harness/pacts not updated: -%s limits the run to part of the contract\n", name)
			return nil
		}
	}
	dst, err := pactkit.PactDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no pact file was written to %s", dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, filepath.Base(f))
		if old, err := os.ReadFile(target); err == nil && bytes.Equal(old, b) {
			continue
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "updated", target)
	}
	return nil
}

// newPact starts a fresh V4 pact (its own mock server) between two participants; every
// interaction test uses its own, and all of them merge into the same pact file.
func newPact(t *testing.T, consumerName, providerName string) *consumer.V4HTTPMockProvider {
	t.Helper()
	p, err := consumer.NewV4Pact(consumer.MockHTTPProviderConfig{
		Consumer: consumerName,
		Provider: providerName,
		Host:     "127.0.0.1",
		PactDir:  pactDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mockURL is the base URL of a running mock server.
func mockURL(c consumer.MockServerConfig) string {
	return fmt.Sprintf("http://%s:%d", c.Host, c.Port)
}
