package provider

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pact-foundation/pact-go/v2/models"

	"aiservice/harness/contract/internal/pactkit"
)

func TestMain(m *testing.M) {
	flag.Parse()
	pactkit.QuietLogs()
	os.Exit(m.Run())
}

// pactFile is the committed pact between two participants; the consumer tests write it.
func pactFile(t *testing.T, consumerName, providerName string) string {
	t.Helper()
	path, err := pactkit.PactFile(consumerName, providerName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("pact file missing (run the consumer tests first: go test ./harness/contract/consumer/...): %v", err)
	}
	return path
}

// requireHandlers fails when the pact names a provider state without a handler: pact-go only
// logs a warning and verifies the interaction in whatever state the provider happens to be in.
func requireHandlers(t *testing.T, pactPath string, handlers models.StateHandlers) {
	t.Helper()
	b, err := os.ReadFile(pactPath)
	if err != nil {
		t.Fatal(err)
	}
	var pact struct {
		Interactions []struct {
			Description    string `json:"description"`
			ProviderStates []struct {
				Name string `json:"name"`
			} `json:"providerStates"`
		} `json:"interactions"`
	}
	if err := json.Unmarshal(b, &pact); err != nil {
		t.Fatalf("%s: %v", pactPath, err)
	}
	if len(pact.Interactions) == 0 {
		t.Fatalf("%s has no interactions", pactPath)
	}
	for _, i := range pact.Interactions {
		for _, s := range i.ProviderStates {
			if _, ok := handlers[s.Name]; !ok {
				t.Errorf("interaction %q needs provider state %q, which has no handler", i.Description, s.Name)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// stateHandler adapts a setup/teardown pair to pact-go's state handler signature; either may be
// nil. Each runs with its own deadline, so a stuck process fails the interaction, not the run.
func stateHandler(setup, teardown func(ctx context.Context) error) models.StateHandler {
	return func(isSetup bool, s models.ProviderState) (models.ProviderStateResponse, error) {
		f := teardown
		if isSetup {
			f = setup
		}
		if f == nil {
			return nil, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := f(ctx); err != nil {
			phase := "teardown"
			if isSetup {
				phase = "setup"
			}
			return nil, fmt.Errorf("state %q %s: %w", s.Name, phase, err)
		}
		return nil, nil
	}
}
