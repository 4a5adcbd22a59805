package clients

import (
	"context"
	"testing"
	"time"

	"aiservice/harness/launch"
)

// TestNPMClientsSeeUpstreamFailures: when the upstream fails behind the gateway, each
// OpenAI-compatible npm client raises its own error type with the gateway's status — the
// `openai` SDK's APIError subclasses (LangChain.js throws the same ones), the AI SDK's
// APICallError — and a stream cut short ends in an error after the chunks that did arrive.
func TestNPMClientsSeeUpstreamFailures(t *testing.T) {
	sim := launch.MustStartSim(t, launch.Options{})
	control := launch.SimControl{URL: sim.URL}
	// One model per fault; no retries and no breaker opening, so that each client call is one
	// upstream call and every answer is the fault's own, whatever ran before it.
	svc := launch.MustStartService(t, launch.Options{
		Args: []string{"--api-keys", serviceKey},
		Config: launch.UpstreamConfig(sim.URL, `  - name: rate-limited-model
    provider: upstream
  - name: failing-model
    provider: upstream
resilience:
  max_retries: 0
  breaker_failures: 1000
`),
	})
	env := []string{"AISERVICE_BASE_URL=" + svc.URL, "AISERVICE_API_KEY=" + serviceKey}

	rateLimited := map[string]want{"error.status": eqInt(429), "error.type": eq("rate_limit_error")}
	openaiRateLimited := merge(rateLimited, map[string]want{"error.class": eq("RateLimitError"), "error.isRateLimit": isTrue})
	aisdk := map[string]want{"error.class": eq("APICallError"), "error.isAPICallError": isTrue}
	failed := map[string]want{"error.status": eqInt(502), "error.type": eq("upstream_error")}
	openaiFailed := merge(failed, map[string]want{"error.class": eq("InternalServerError"), "error.isInternalServer": isTrue})
	// Mid-stream the status line has long been 200: the error arrives as an SSE error event.
	cut := map[string]want{"chunks": eqInt(3), "error.isOpenAIAPIError": isTrue, "error.type": eq("upstream_error"), "error.message": contains("upstream")}

	for _, tc := range []struct {
		name      string
		behaviour launch.SimBehaviour
		model     string
		cases     map[string]map[string]want
	}{
		{"upstream 429", launch.SimBehaviour{ErrorRate: 1, ErrorStatus: 429, ErrorModels: []string{"rate-limited-model"}}, "rate-limited-model",
			map[string]map[string]want{
				"openaiCreate": openaiRateLimited, "openaiStream": merge(openaiRateLimited, map[string]want{"chunks": eqInt(0)}),
				"aisdkGenerate": merge(rateLimited, aisdk), "aisdkStream": merge(rateLimited, aisdk, map[string]want{"deltas": eqInt(0), "errors": eqInt(1)}),
				"langchainInvoke": openaiRateLimited, "langchainStream": merge(openaiRateLimited, map[string]want{"chunks": eqInt(0)}),
			}},
		{"upstream 500", launch.SimBehaviour{ErrorRate: 1, ErrorStatus: 500, ErrorModels: []string{"failing-model"}}, "failing-model",
			map[string]map[string]want{
				"openaiCreate": openaiFailed, "openaiStream": merge(openaiFailed, map[string]want{"chunks": eqInt(0)}),
				"aisdkGenerate": merge(failed, aisdk), "aisdkStream": merge(failed, aisdk, map[string]want{"deltas": eqInt(0), "errors": eqInt(1)}),
				"langchainInvoke": openaiFailed, "langchainStream": merge(openaiFailed, map[string]want{"chunks": eqInt(0)}),
			}},
		{"stream cut after 3 chunks", launch.SimBehaviour{CutStreamAfter: 3}, "gpt-4o-mini",
			map[string]map[string]want{
				"openaiStream":    merge(cut, map[string]want{"error.class": eq("APIError")}),
				"langchainStream": merge(cut, map[string]want{"error.class": eq("APIError")}),
				"aisdkStream": {"deltas": eqInt(3), "errors": eqInt(1), "error.class": eq("StreamProviderError"),
					"error.message": contains("upstream")},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := control.SetBehaviour(ctx, tc.behaviour); err != nil {
				t.Fatal(err)
			}
			check(t, "faults.mjs", append(env, "AISERVICE_MODEL="+tc.model, "CASES="+caseNames(tc.cases)), tc.cases)
		})
	}
}
