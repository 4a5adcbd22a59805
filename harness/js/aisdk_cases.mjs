// What the AI SDK scripts share: the language-model cases, run by aisdk.mjs on `openai.chat(model)`
// (chat completions) and by aisdk_responses.mjs on the default `openai(model)` (Responses).
import { generateText, streamText, generateObject, Output, tool, stepCountIs } from "ai";
import { Recipe, recipePrompt, weather, weatherPrompt, weatherResult } from "./fixtures.mjs";

// weatherTools records each call the SDK executes in calls.
function weatherTools(calls) {
  return {
    [weather.name]: tool({
      description: weather.description,
      inputSchema: weather.input,
      execute: async (input) => {
        calls.push(input);
        return weatherResult;
      },
    }),
  };
}

const usage = (u) => ({ inputTokens: u?.inputTokens, outputTokens: u?.outputTokens });

// languageCases are the cases of one language model; common() gives each call its model and a
// fresh deadline.
export function languageCases(common) {
  return {
    async generateText() {
      const r = await generateText({ ...common(), system: "Be brief.", prompt: "Say hello" });
      return { text: r.text, finish: r.finishReason, usage: usage(r.usage), responseId: r.response.id };
    },

    async streamText() {
      const r = streamText({ ...common(), prompt: "Tell me something" });
      let parts = 0;
      for await (const delta of r.textStream) if (delta) parts++;
      return { parts, text: await r.text, finish: await r.finishReason, usage: usage(await r.usage) };
    },

    async generateObject() {
      const r = await generateObject({ ...common(), schema: Recipe, prompt: recipePrompt });
      return { object: r.object, valid: Recipe.safeParse(r.object).success, finish: r.finishReason };
    },

    async outputObject() {
      const r = await generateText({ ...common(), output: Output.object({ schema: Recipe }), prompt: recipePrompt });
      return { object: r.output, valid: Recipe.safeParse(r.output).success, finish: r.finishReason };
    },

    async streamOutputObject() {
      const r = streamText({ ...common(), output: Output.object({ schema: Recipe }), prompt: recipePrompt });
      let partials = 0;
      for await (const p of r.partialOutputStream) if (p) partials++;
      const object = await r.output;
      return { partials, object, valid: Recipe.safeParse(object).success };
    },

    async multiStepTools() {
      const calls = [];
      const r = await generateText({ ...common(), prompt: weatherPrompt, tools: weatherTools(calls), stopWhen: stepCountIs(3) });
      return { steps: r.steps.length, stepFinishes: r.steps.map((s) => s.finishReason), calls, text: r.text, finish: r.finishReason };
    },

    async streamMultiStepTools() {
      const calls = [];
      const r = streamText({ ...common(), prompt: weatherPrompt, tools: weatherTools(calls), stopWhen: stepCountIs(3) });
      const parts = {};
      for await (const p of r.fullStream) parts[p.type] = (parts[p.type] ?? 0) + 1;
      return { steps: (await r.steps).length, parts, calls, text: await r.text, finish: await r.finishReason };
    },
  };
}
