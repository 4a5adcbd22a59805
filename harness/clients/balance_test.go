package clients

import (
	"context"
	"fmt"
	"testing"

	"aiservice/harness/launch"
)

// TestNPMClientsThroughABalancedModel: with one of three deployments failing every request, the
// npm clients — `openai` and the Vercel AI SDK, their own retries off, streamed and not — see no
// error: the gateway retries each failed attempt on another deployment before a byte is sent.
func TestNPMClientsThroughABalancedModel(t *testing.T) {
	var ds []launch.Deployment
	var sims []launch.SimControl
	for i, args := range [][]string{nil, {"--error-rate", "1", "--error-status", "500"}, nil} {
		sim := launch.MustStartSim(t, launch.Options{Args: args})
		sims = append(sims, launch.SimControl{URL: sim.URL})
		ds = append(ds, launch.Deployment{Name: fmt.Sprintf("d%d", i+1), URL: sim.URL})
	}
	// The breaker stays out of it, so the failing deployment keeps getting its share of first
	// attempts and every one of them is retried.
	svc := launch.MustStartService(t, launch.Options{
		Args:   []string{"--api-keys", serviceKey},
		Config: launch.BalancedConfig("weighted", ds, "resilience: {max_retries: 1, breaker_failures: 1000}\n"),
	})
	const calls = 12
	env := []string{"AISERVICE_BASE_URL=" + svc.URL, "AISERVICE_API_KEY=" + serviceKey, "AISERVICE_MODEL=gpt-4o-mini", fmt.Sprintf("CALLS=%d", calls)}
	all := map[string]want{"ok": eqInt(calls), "calls": eqInt(calls)}
	check(t, "balance.mjs", env, map[string]map[string]want{
		"openaiCreate": all, "openaiStream": all, "aisdkGenerate": all, "aisdkStream": all,
	})

	var served int64
	for i, s := range sims {
		st, err := s.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if st.InjectedErrors == 0 || st.InjectedErrors != st.Requests {
				t.Errorf("the failing deployment answered %d of %d requests with an error: want every one, and some", st.InjectedErrors, st.Requests)
			}
			continue
		}
		served += st.ChatRequests + st.StreamRequests
	}
	if served != 4*calls {
		t.Errorf("the healthy deployments served %d calls, want each of the %d once", served, 4*calls)
	}
}
