package clients

import (
	"testing"

	"aiservice/harness/launch"
)

const serviceKey = "sk-test-clients"

// TestNPMClientsAgainstTheGateway: the npm clients people call OpenAI with — `openai`, the Vercel
// AI SDK with openai.chat(model), LangChain.js ChatOpenAI — work against the real binary (on its
// built-in simulator) with only the base URL and key changed.
func TestNPMClientsAgainstTheGateway(t *testing.T) {
	svc := launch.MustStartService(t, launch.Options{Args: []string{"--api-keys", serviceKey}})
	env := []string{"AISERVICE_BASE_URL=" + svc.URL, "AISERVICE_API_KEY=" + serviceKey, "AISERVICE_MODEL=gpt-4o-mini"}
	png512 := map[string]want{"count": eqInt(1), "image.png": isTrue, "image.width": eqInt(512), "image.height": eqInt(512)}
	weatherCall := map[string]want{"args.city": text, "args.unit": oneOf("celsius", "fahrenheit")}

	for _, tc := range []struct {
		script string
		cases  map[string]map[string]want
	}{
		{"openai.mjs", openaiCases("gpt-4o-mini")},
		{"aisdk.mjs", map[string]map[string]want{
			"generateText":       {"text": text, "finish": eq("stop"), "usage.inputTokens": positive, "usage.outputTokens": positive},
			"streamText":         {"parts": many, "text": text, "finish": eq("stop"), "usage.inputTokens": positive, "usage.outputTokens": positive},
			"generateObject":     merge(recipe("object"), map[string]want{"finish": eq("stop")}),
			"outputObject":       merge(recipe("object"), map[string]want{"finish": eq("stop")}),
			"streamOutputObject": merge(recipe("object"), map[string]want{"partials": positive}),
			"multiStepTools": {"steps": eqInt(2), "stepFinishes.0": eq("tool-calls"), "stepFinishes.1": eq("stop"),
				"calls.#": eqInt(1), "calls.0.city": text, "calls.0.unit": oneOf("celsius", "fahrenheit"),
				"text": contains("19 C, clear"), "finish": eq("stop")},
			"generateImage": merge(png512, map[string]want{"mediaType": eq("image/png")}),
			"unknownModel": {"error.status": eqInt(404), "error.class": eq("APICallError"), "error.isAPICallError": isTrue,
				"error.retryable": isFalse, "error.message": contains("no-such-model")},
			"streamMultiStepTools": {"steps": eqInt(2), "parts.tool-input-delta": positive, "parts.tool-call": eqInt(1), "parts.tool-result": eqInt(1),
				"parts.finish-step": eqInt(2), "parts.text-delta": positive, "calls.#": eqInt(1), "calls.0.city": text,
				"text": contains("19 C, clear"), "finish": eq("stop")},
		}},
		{"langchain.mjs", map[string]map[string]want{
			"invoke": {"content": text, "finish": eq("stop"), "usage.input_tokens": positive, "usage.output_tokens": positive},
			"stream": {"chunks": many, "content": text, "usage.input_tokens": positive, "usage.output_tokens": positive},
			"bindTools": merge(weatherCall, map[string]want{"tool": eq("get_weather"), "final": contains("19 C, clear"),
				"finalToolCalls": eqInt(0)}),
			"streamTools":          merge(weatherCall, map[string]want{"chunks": many, "tool": eq("get_weather")}),
			"withStructuredOutput": recipe("object"),
			"unknownModel": {"error.status": eqInt(404), "error.class": eq("NotFoundError"), "error.code": eq("MODEL_NOT_FOUND"),
				"error.message": contains("no-such-model")},
		}},
	} {
		t.Run(tc.script, func(t *testing.T) { check(t, tc.script, env, tc.cases) })
	}
}

// openaiCases are what openai.mjs must print against the gateway on model.
func openaiCases(model string) map[string]map[string]want {
	png512 := map[string]want{"count": eqInt(1), "image.png": isTrue, "image.width": eqInt(512), "image.height": eqInt(512)}
	weatherCall := map[string]want{"args.city": text, "args.unit": oneOf("celsius", "fahrenheit")}
	return map[string]map[string]want{
		// usage.cost_usd is the gateway's own field: the SDK hands it through untouched.
		"chat": {"object": eq("chat.completion"), "model": eq(model), "content": text, "finish": eq("stop"),
			"usage.prompt_tokens": positive, "usage.completion_tokens": positive, "usage.total_tokens": positive, "usage.cost_usd": positive},
		"stream": {"chunks": many, "content": text, "finish": eq("stop"),
			"usage.prompt_tokens": positive, "usage.completion_tokens": positive, "usage.total_tokens": positive},
		"tools": merge(weatherCall, map[string]want{"finish": eq("tool_calls"), "tool": eq("get_weather"),
			"finalFinish": eq("stop"), "final": contains("19 C, clear")}),
		"streamTools": merge(weatherCall, map[string]want{"argDeltas": many, "finish": eq("tool_calls"), "tool": eq("get_weather")}),
		"runTools": {"calls.#": eqInt(1), "calls.0.city": text, "calls.0.unit": oneOf("celsius", "fahrenheit"),
			"completions": eqInt(2), "final": contains("19 C, clear")},
		"structured":       merge(recipe("parsed"), map[string]want{"finish": eq("stop")}),
		"streamStructured": recipe("parsed"),
		"models":           {"ids": includes(model)},
		"images":           png512,
		"unknownModel": {"error.status": eqInt(404), "error.class": eq("NotFoundError"), "error.isAPIError": isTrue, "error.isNotFound": isTrue,
			"error.message": contains("no-such-model")},
		"badInput": {"error.status": eqInt(400), "error.class": eq("BadRequestError"), "error.isAPIError": isTrue, "error.isBadRequest": isTrue,
			"error.message": contains("messages")},
		"wrongKey": {"error.status": eqInt(401), "error.class": eq("AuthenticationError"), "error.isAuthentication": isTrue},
	}
}
