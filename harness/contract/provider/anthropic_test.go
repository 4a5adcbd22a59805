package provider

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pact-foundation/pact-go/v2/models"
	"github.com/pact-foundation/pact-go/v2/provider"

	"aiservice/harness/contract/internal/pactkit"
	"aiservice/harness/launch"
)

// verify replays one pact against a provider at baseURL; logs are the provider's, shown when
// the verification failed.
func verify(t *testing.T, providerName, baseURL, pact string, handlers models.StateHandlers, logs func() string) {
	t.Helper()
	requireHandlers(t, pact, handlers)
	err := provider.NewVerifier().VerifyProvider(t, provider.VerifyRequest{
		Provider: providerName, ProviderBaseURL: baseURL, PactFiles: []string{pact}, StateHandlers: handlers,
		DisableColoredOutput: true, RequestTimeout: 15 * time.Second,
	})
	if err != nil {
		t.Logf("provider log:\n%s", logs())
	}
}

// TestSimulatorHonoursAnthropicContract replays the aiservice → anthropic-upstream pact
// (recorded from what the service's anthropic provider sends) against the simulator's
// Messages dialect, which every Anthropic test of the other suites uses as the upstream.
func TestSimulatorHonoursAnthropicContract(t *testing.T) {
	pact := pactFile(t, pactkit.Service, pactkit.AnthropicUpstream)
	sim := launch.MustStartSim(t, launch.Options{Args: []string{"--api-key", pactkit.UpstreamAPIKey}})
	simctl := launch.SimControl{URL: sim.URL}
	reset := func(ctx context.Context) error { return simctl.Reset(ctx) }
	verify(t, pactkit.AnthropicUpstream, sim.URL, pact, models.StateHandlers{
		pactkit.StateUpstreamKey: stateHandler(reset, nil),
		pactkit.StateUpstreamBusy: stateHandler(func(ctx context.Context) error {
			return simctl.SetBehaviour(ctx, launch.SimBehaviour{ErrorRate: 1, ErrorStatus: 529, RetryAfter: "1s"})
		}, reset),
	}, sim.Logs)
}

// TestServiceHonoursAnthropicClientContract replays the anthropic-client pact against the
// real binary: claude-haiku-4-5 on a `type: anthropic` provider in front of `aiservice sim`.
func TestServiceHonoursAnthropicClientContract(t *testing.T) {
	pact := pactFile(t, pactkit.AnthropicClient, pactkit.Service)
	sim := launch.MustStartSim(t, launch.Options{})
	svc := launch.MustStartService(t, launch.Options{Config: fmt.Sprintf(`
providers:
  - {name: sim, type: sim}
  - {name: anthropic-up, type: anthropic, base_url: %s}
models:
  - {name: gpt-4o-mini, provider: sim}
  - {name: claude-haiku-4-5, provider: anthropic-up}
`, sim.URL)})
	simctl := launch.SimControl{URL: sim.URL}
	verify(t, pactkit.Service, svc.URL, pact, models.StateHandlers{
		pactkit.StateUpstreamHealthy: stateHandler(func(ctx context.Context) error { return simctl.Reset(ctx) }, nil),
	}, svc.Logs)
}
