package provider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pact-foundation/pact-go/v2/models"
	"github.com/pact-foundation/pact-go/v2/provider"

	"aiservice/harness/client"
	"aiservice/harness/contract/internal/pactkit"
	"aiservice/harness/launch"
)

// contractAPIKey is the key of the instance that requires keys; the 401 interaction sends none.
const contractAPIKey = "sk-contract-client"

// TestServiceHonoursClientContract replays the aiservice-client pact against the real binary.
//
// Layout: an `aiservice sim` process is the upstream (so states can make it fail through
// /_sim/behaviour); two aiservice processes use it, one open and one started with --api-keys;
// a switch (a reverse proxy) in front sends the verifier's requests to the open instance, or to
// the keyed one while "API keys are required" holds. Both instances run the default resilience
// settings: the contract is verified against the service as configured, not a tuned copy.
func TestServiceHonoursClientContract(t *testing.T) {
	pact := pactFile(t, pactkit.ClientConsumer, pactkit.Service)

	sim := launch.MustStartSim(t, launch.Options{})
	simctl := launch.SimControl{URL: sim.URL}
	cfg := launch.UpstreamConfig(sim.URL, "")
	open := launch.MustStartService(t, launch.Options{Config: cfg})
	keyed := launch.MustStartService(t, launch.Options{Config: cfg, Args: []string{"--api-keys", contractAPIKey}})
	limited := launch.MustStartService(t, launch.Options{Config: cfg + virtualKeys()})

	sw := newSwitch(t, open.URL)
	toOpen := func(context.Context) error { return sw.route(open.URL) }
	reset := func(ctx context.Context) error { return simctl.Reset(ctx) }

	handlers := models.StateHandlers{
		pactkit.StateUpstreamHealthy: stateHandler(reset, nil),
		pactkit.StateUpstreamFailing: stateHandler(func(ctx context.Context) error {
			// Every upstream call answers 500: the service retries, then reports upstream_error.
			return simctl.SetBehaviour(ctx, launch.SimBehaviour{ErrorRate: 1, ErrorStatus: http.StatusInternalServerError})
		}, reset),
		pactkit.StateAgentCalculator: stateHandler(func(ctx context.Context) error {
			// The agent comes from the service's embedded defaults; this checks the
			// precondition instead of assuming it, so a config change fails here by name.
			_, _, err := client.New(open.URL).Agent(ctx, "calculator")
			return err
		}, nil),
		pactkit.StateAPIKeysRequired: stateHandler(func(context.Context) error { return sw.route(keyed.URL) }, toOpen),
		pactkit.StateVirtualKeys:     stateHandler(func(context.Context) error { return sw.route(limited.URL) }, toOpen),
	}
	requireHandlers(t, pact, handlers)

	err := provider.NewVerifier().VerifyProvider(t, provider.VerifyRequest{
		Provider:             pactkit.Service,
		ProviderBaseURL:      sw.URL,
		PactFiles:            []string{pact},
		StateHandlers:        handlers,
		DisableColoredOutput: true,
		RequestTimeout:       15 * time.Second,
	})
	if err != nil {
		t.Logf("open instance log:\n%s", open.Logs())
		t.Logf("keyed instance log:\n%s", keyed.Logs())
	}
}

// virtualKeys is the config of StateVirtualKeys: the keys as operators write them, digests.
func virtualKeys() string {
	mini, spent := sha256.Sum256([]byte(pactkit.KeyMiniOnly)), sha256.Sum256([]byte(pactkit.KeySpent))
	return fmt.Sprintf(`
keys:
  - {name: mini-only, hash: "sha256:%x", models: [gpt-4o-mini]}
  - {name: spent, hash: "sha256:%x", rpm: 1000, daily_usd: 0.000000001}
`, mini, spent)
}

// serviceSwitch is a reverse proxy whose target the provider states change.
type serviceSwitch struct {
	*httptest.Server
	target atomic.Pointer[url.URL]
}

func newSwitch(t *testing.T, initial string) *serviceSwitch {
	t.Helper()
	s := &serviceSwitch{}
	if err := s.route(initial); err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(s.target.Load()) },
		// Streams must pass through as they are produced.
		FlushInterval: -1,
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The body is read before it is forwarded: net/http's server closes a request's body
		// once the answer's headers go out, and the transport reads the body once more after
		// the declared length to check its end — a read that, racing the close, fails and
		// tears down the upstream connection mid-answer (golang/go#40747). A stream the service
		// answers at once lost that race on a loaded CI machine: "read error during body copy".
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *serviceSwitch) route(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("switch target: %w", err)
	}
	s.target.Store(u)
	return nil
}
