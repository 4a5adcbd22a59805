package clients

import (
	"fmt"
	"testing"

	"aiservice/harness/launch"
)

// gatewayOnSim starts a simulator (key upKey) and the gateway in front of it: claude-haiku-4-5
// on a `type: anthropic` provider (the simulator's Messages dialect, passed through) and
// gpt-4o-mini on a `type: openai` one (its chat completions, translated). Retries are off, so
// a fault reaches the client as the upstream sent it.
func gatewayOnSim(t *testing.T, key string) (*launch.Process, *launch.Process) {
	t.Helper()
	const upKey = "sk-upstream"
	sim := launch.MustStartSim(t, launch.Options{Args: []string{"--api-key", upKey}})
	cfg := fmt.Sprintf(`
api_keys: [%s]
resilience: {max_retries: 0}
providers:
  - {name: anthropic-up, type: anthropic, base_url: %[2]s, api_key_env: UP_KEY}
  - {name: openai-up, type: openai, base_url: %[2]s/v1, api_key_env: UP_KEY}
models:
  - {name: claude-haiku-4-5, provider: anthropic-up}
  - {name: gpt-4o-mini, provider: openai-up}
`, key, sim.URL)
	svc := launch.MustStartService(t, launch.Options{Config: cfg, Env: []string{"UP_KEY=" + upKey}})
	return sim, svc
}

// TestAnthropicSDKAgainstTheGateway: @anthropic-ai/sdk, only its base URL swapped, gets from
// the gateway what it gets from a Messages server — on a model whose upstream speaks Messages
// and on one whose upstream speaks OpenAI's dialect.
func TestAnthropicSDKAgainstTheGateway(t *testing.T) {
	const key = "sk-gw"
	_, svc := gatewayOnSim(t, key)
	for _, model := range []string{"claude-haiku-4-5", "gpt-4o-mini"} {
		t.Run(model, func(t *testing.T) {
			check(t, "anthropic.mjs", []string{"AISERVICE_BASE_URL=" + svc.URL, "AISERVICE_API_KEY=" + key, "AISERVICE_MODEL=" + model}, anthropicCases())
		})
	}
}

// TestAnthropicSDKSeesGatewayFaults: an upstream's 429 and 529 reach @anthropic-ai/sdk as its
// RateLimitError and OverloadedError, from either dialect's upstream, and a stream cut after
// three chunks ends in Anthropic's `error` event after the text that arrived: the SDK's
// APIError, of the type the upstream's own error event had (overloaded_error from the Messages
// dialect) or api_error where the upstream just failed (a dropped connection; the OpenAI
// dialect's cut).
func TestAnthropicSDKSeesGatewayFaults(t *testing.T) {
	const key = "sk-gw"
	sim, svc := gatewayOnSim(t, key)
	apiError := func(typ string) map[string]want {
		return map[string]want{"error.class": eq("APIError"), "error.isAnthropicAPIError": isTrue, "error.type": eq(typ)}
	}
	for _, tc := range []struct{ model, cut string }{{"claude-haiku-4-5", "overloaded_error"}, {"gpt-4o-mini", "api_error"}} {
		t.Run(tc.model, func(t *testing.T) {
			env := []string{"AISERVICE_BASE_URL=" + svc.URL, "AISERVICE_API_KEY=" + key, "AISERVICE_MODEL=" + tc.model}
			runFaults(t, launch.SimControl{URL: sim.URL}, env, anthropicFaults(apiError(tc.cut), apiError("api_error")))
		})
	}
}

// TestOpenAINPMOnAnthropicUpstream: npm `openai` on a model whose upstream speaks Anthropic's
// Messages — chat, streams, tools (the runTools loop too) and errors, translated both ways.
// Structured outputs (response_format json_schema) and images are not: the Messages API has
// neither, and a json_schema is refused with a 400 naming response_format (docs/anthropic.md).
func TestOpenAINPMOnAnthropicUpstream(t *testing.T) {
	const key = "sk-gw"
	_, svc := gatewayOnSim(t, key)
	all := openaiCases("claude-haiku-4-5")
	cases := map[string]map[string]want{}
	for _, name := range []string{"chat", "stream", "tools", "streamTools", "runTools", "models", "unknownModel", "badInput", "wrongKey"} {
		cases[name] = all[name]
	}
	env := []string{"AISERVICE_BASE_URL=" + svc.URL, "AISERVICE_API_KEY=" + key, "AISERVICE_MODEL=claude-haiku-4-5", "CASES=" + caseNames(cases)}
	check(t, "openai.mjs", env, cases)
}
