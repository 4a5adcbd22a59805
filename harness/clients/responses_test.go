package clients

import (
	"fmt"
	"math"
	"testing"

	"github.com/tidwall/gjson"

	"aiservice/harness/launch"
)

// TestNPMClientsResponsesAndEmbeddings: npm `openai` (responses create, stream, retrieve,
// delete, previous_response_id, tools; embeddings in both encodings; n choices), the AI SDK's
// default `openai(model)` provider — which calls the Responses API — and its embeddings, and
// LangChain's OpenAIEmbeddings, on a model of each upstream dialect.
func TestNPMClientsResponsesAndEmbeddings(t *testing.T) {
	svc := launch.MustStartService(t, launch.Options{Config: launch.BothDialects, Args: []string{"--api-keys", serviceKey}})
	weatherCall := map[string]want{"args.city": text, "args.unit": oneOf("celsius", "fahrenheit")}
	usage := map[string]want{"usage.input_tokens": positive, "usage.output_tokens": positive, "usage.total_tokens": positive}
	for _, model := range launch.DialectModels {
		env := []string{"AISERVICE_BASE_URL=" + svc.URL, "AISERVICE_API_KEY=" + serviceKey, "AISERVICE_MODEL=" + model}
		t.Run(model, func(t *testing.T) {
			for _, tc := range []struct {
				script string
				cases  map[string]map[string]want
			}{
				{"openai_responses.mjs", map[string]map[string]want{
					"create": merge(usage, map[string]want{"object": eq("response"), "status": eq("completed"), "model": eq(model), "text": text,
						"usage.cost_usd": positive}),
					"conversation": {"previous": isTrue, "grew": isTrue, "retrieved": isTrue, "items": eqInt(1),
						"afterDelete.status": eqInt(404), "afterDelete.isNotFound": isTrue},
					"stream":            merge(usage, map[string]want{"types": includes("response.output_text.delta"), "ordered": isTrue, "text": text, "same": isTrue}),
					"streamHelper":      {"deltas": many, "status": eq("completed"), "text": text},
					"tools":             merge(weatherCall, map[string]want{"tool": eq("get_weather"), "final": contains("19 C, clear")}),
					"embeddingsFloat":   {"count": eqInt(2), "dims": eqInt(1536), "isArray": isTrue, "usage.prompt_tokens": positive},
					"embeddingsBase64":  {"isString": isTrue, "bytes": eqInt(64 * 4)},
					"embeddingsDefault": {"dims": eqInt(32), "norm": near(1, 1e-6)},
					"nChoices":          {"choices": eqInt(2), "distinct": isTrue, "indexes.0": eqInt(0), "indexes.1": eqInt(1)},
				}},
				{"aisdk_responses.mjs", map[string]map[string]want{
					"generateText": {"text": text, "finish": eq("stop"), "usage.inputTokens": positive, "usage.outputTokens": positive, "responseId": contains("resp_")},
					"streamText":   {"parts": many, "text": text, "finish": eq("stop"), "usage.inputTokens": positive, "usage.outputTokens": positive},
					"multiStepTools": {"steps": eqInt(2), "stepFinishes.0": eq("tool-calls"), "stepFinishes.1": eq("stop"),
						"calls.#": eqInt(1), "calls.0.city": text, "text": contains("19 C, clear"), "finish": eq("stop")},
					"streamMultiStepTools": {"steps": eqInt(2), "parts.tool-input-delta": positive, "parts.tool-call": eqInt(1),
						"parts.tool-result": eqInt(1), "parts.text-delta": positive, "text": contains("19 C, clear"), "finish": eq("stop")},
					"generateObject":     merge(recipe("object"), map[string]want{"finish": eq("stop")}),
					"outputObject":       merge(recipe("object"), map[string]want{"finish": eq("stop")}),
					"streamOutputObject": merge(recipe("object"), map[string]want{"partials": positive}),
					"embed":              {"dims": eqInt(1536), "tokens": positive},
					"embedMany":          {"count": eqInt(3), "same": near(1, 1e-6)},
				}},
			} {
				t.Run(tc.script, func(t *testing.T) { check(t, tc.script, env, tc.cases) })
			}
		})
	}
	env := []string{"AISERVICE_BASE_URL=" + svc.URL, "AISERVICE_API_KEY=" + serviceKey}
	check(t, "langchain_embeddings.mjs", env, map[string]map[string]want{
		"embedQuery":     {"dims": eqInt(1536), "norm": near(1, 1e-6)},
		"embedDocuments": {"count": eqInt(3), "dims": eqInt(1536)},
	})
}

// near is a number within tol of v (unit vectors' norms, cosine similarities of equal vectors).
func near(v, tol float64) want {
	return want{fmt.Sprintf("%v ± %v", v, tol), func(r gjson.Result) bool { return r.Type == gjson.Number && math.Abs(r.Float()-v) <= tol }}
}
