package clients

import (
	"context"
	"testing"
	"time"

	"aiservice/harness/launch"
)

// TestAnthropicSDKAgainstTheSimulator: `@anthropic-ai/sdk` reads the simulator's Messages
// dialect without complaint: the simulator is faithful enough to be the upstream the gateway's
// Anthropic surface and provider are tested on (anthropic_gateway_test.go).
func TestAnthropicSDKAgainstTheSimulator(t *testing.T) {
	const key = "sk-ant-test"
	sim := launch.MustStartSim(t, launch.Options{Args: []string{"--api-key", key}})
	env := []string{"AISERVICE_BASE_URL=" + sim.URL, "AISERVICE_API_KEY=" + key, "AISERVICE_MODEL=claude-haiku-4-5"}
	check(t, "anthropic.mjs", env, anthropicCases())
}

// anthropicCases are what anthropic.mjs must print against any faithful Messages server.
func anthropicCases() map[string]map[string]want {
	message := map[string]want{"stop": eq("end_turn"), "blocks.#": eqInt(1), "blocks.0": eq("text"), "text": text,
		"usage.input_tokens": positive, "usage.output_tokens": positive}
	return map[string]map[string]want{
		"create": merge(message, map[string]want{"type": eq("message"), "role": eq("assistant")}),
		"stream": merge(message, map[string]want{"deltas": many}),
		"toolUse": {"stop": eq("tool_use"), "tool": eq("get_weather"), "input.city": text, "input.unit": oneOf("celsius", "fahrenheit"),
			"finalStop": eq("end_turn"), "final": contains("19 C, clear")},
		"streamToolUse": {"stop": eq("tool_use"), "tool": eq("get_weather"), "input.city": text, "input.unit": oneOf("celsius", "fahrenheit")},
		"countTokens":   {"inputTokens": positive},
		"badInput": {"error.status": eqInt(400), "error.class": eq("BadRequestError"), "error.isBadRequest": isTrue,
			"error.type": eq("invalid_request_error"), "error.message": contains("messages")},
		"wrongKey": {"error.status": eqInt(401), "error.class": eq("AuthenticationError"), "error.isAPIError": isTrue,
			"error.isAuthentication": isTrue, "error.type": eq("authentication_error")},
	}
}

// TestAnthropicSDKSeesSimulatorFaults: the simulator's Messages dialect fails the way Anthropic
// does, so @anthropic-ai/sdk raises its own classes — 429 RateLimitError, 529 OverloadedError,
// with Anthropic's error types —, a stream that fails mid-way ends, after the text that arrived,
// in Anthropic's `error` event (the SDK's APIError of type overloaded_error), and one whose
// connection drops in the SDK's plain AnthropicError.
func TestAnthropicSDKSeesSimulatorFaults(t *testing.T) {
	const key = "sk-ant-test"
	sim := launch.MustStartSim(t, launch.Options{Args: []string{"--api-key", key}})
	control := launch.SimControl{URL: sim.URL}
	env := []string{"AISERVICE_BASE_URL=" + sim.URL, "AISERVICE_API_KEY=" + key, "AISERVICE_MODEL=claude-haiku-4-5"}
	runFaults(t, control, env, anthropicFaults(
		map[string]want{"error.class": eq("APIError"), "error.isAnthropicAPIError": isTrue, "error.type": eq("overloaded_error")},
		map[string]want{"error.class": eq("AnthropicError"), "error.message": text}))
}

// runFaults sets each fault on the simulator and checks what faults.mjs prints under it.
func runFaults(t *testing.T, control launch.SimControl, env []string, faults []anthropicFault) {
	t.Helper()
	for _, tc := range faults {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := control.SetBehaviour(ctx, tc.behaviour); err != nil {
				t.Fatal(err)
			}
			check(t, "faults.mjs", append(env, "CASES="+caseNames(tc.cases)), tc.cases)
		})
	}
}

// anthropicFault is a simulator behaviour and what faults.mjs must print under it.
type anthropicFault struct {
	name      string
	behaviour launch.SimBehaviour
	cases     map[string]map[string]want
}

// anthropicFaults fail the way Anthropic does: the SDK's own classes and error types. cut is
// what a stream failing after three chunks must end in, besides the three deltas, and dropped
// what one whose connection drops after three chunks must.
func anthropicFaults(cut, dropped map[string]want) []anthropicFault {
	rateLimited := map[string]want{"error.status": eqInt(429), "error.class": eq("RateLimitError"), "error.isAnthropicRateLimit": isTrue,
		"error.type": eq("rate_limit_error")}
	overloaded := map[string]want{"error.status": eqInt(529), "error.class": eq("OverloadedError"), "error.isAnthropicOverloaded": isTrue,
		"error.type": eq("overloaded_error")}
	return []anthropicFault{
		{"429", launch.SimBehaviour{ErrorRate: 1, ErrorStatus: 429},
			map[string]map[string]want{"anthropicCreate": rateLimited, "anthropicStream": merge(rateLimited, map[string]want{"deltas": eqInt(0)})}},
		{"529", launch.SimBehaviour{ErrorRate: 1, ErrorStatus: 529},
			map[string]map[string]want{"anthropicCreate": overloaded, "anthropicStream": merge(overloaded, map[string]want{"deltas": eqInt(0)})}},
		{"stream cut after 3 chunks", launch.SimBehaviour{CutStreamAfter: 3},
			map[string]map[string]want{"anthropicStream": merge(cut, map[string]want{"deltas": eqInt(3)})}},
		{"stream connection dropped after 3 chunks", launch.SimBehaviour{CutStreamAfter: 3, DropConnection: true},
			map[string]map[string]want{"anthropicStream": merge(dropped, map[string]want{"deltas": eqInt(3)})}},
	}
}
