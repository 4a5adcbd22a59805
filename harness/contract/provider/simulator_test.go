package provider

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pact-foundation/pact-go/v2/models"
	"github.com/pact-foundation/pact-go/v2/provider"

	"aiservice/harness/contract/internal/pactkit"
	"aiservice/harness/launch"
)

// TestSimulatorHonoursUpstreamContract replays the aiservice → openai-compatible-upstream pact
// (recorded from what the service's openai provider sends) against the built-in simulator, run
// as `aiservice sim` requiring the contract's API key. It keeps the simulator — which every
// other suite uses as the upstream — faithful to the wire format the service depends on.
func TestSimulatorHonoursUpstreamContract(t *testing.T) {
	pact := pactFile(t, pactkit.Service, pactkit.Upstream)

	sim := launch.MustStartSim(t, launch.Options{Args: []string{"--api-key", pactkit.UpstreamAPIKey}})
	simctl := launch.SimControl{URL: sim.URL}
	reset := func(ctx context.Context) error { return simctl.Reset(ctx) }

	handlers := models.StateHandlers{
		// The simulator was started with this key; a reset restores normal behaviour.
		pactkit.StateUpstreamKey: stateHandler(reset, nil),
		pactkit.StateUpstreamLimited: stateHandler(func(ctx context.Context) error {
			return simctl.SetBehaviour(ctx, launch.SimBehaviour{ErrorRate: 1, ErrorStatus: http.StatusTooManyRequests, RetryAfter: "1s"})
		}, reset),
	}
	requireHandlers(t, pact, handlers)

	err := provider.NewVerifier().VerifyProvider(t, provider.VerifyRequest{
		Provider:             pactkit.Upstream,
		ProviderBaseURL:      sim.URL,
		PactFiles:            []string{pact},
		StateHandlers:        handlers,
		DisableColoredOutput: true,
		RequestTimeout:       15 * time.Second,
	})
	if err != nil {
		t.Logf("simulator log:\n%s", sim.Logs())
	}
}
