// The Vercel AI SDK's default provider `openai(model)` — the Responses API — and its embeddings.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText, generateObject, Output, stepCountIs, embed, embedMany, cosineSimilarity } from "ai";
import { env, run } from "./cases.mjs";
import { Recipe, recipePrompt, weatherPrompt } from "./fixtures.mjs";
import { weatherTools, usage } from "./aisdk_tools.mjs";

const openai = createOpenAI({ baseURL: env.baseURL + "/v1", apiKey: env.apiKey });
const model = openai(env.model);
const common = () => ({ model, maxRetries: 0, abortSignal: AbortSignal.timeout(20_000) });

await run({
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

  async generateObject() {
    const r = await generateObject({ ...common(), schema: Recipe, prompt: recipePrompt });
    return { object: r.object, valid: Recipe.safeParse(r.object).success, finish: r.finishReason };
  },

  async outputObject() {
    const r = await generateText({ ...common(), output: Output.object({ schema: Recipe }), prompt: recipePrompt });
    return { object: r.output, valid: Recipe.safeParse(r.output).success, finish: r.finishReason };
  },

  async embed() {
    const r = await embed({ model: openai.embedding("text-embedding-3-small"), value: "sunny day at the beach", maxRetries: 0 });
    return { dims: r.embedding.length, tokens: r.usage.tokens };
  },

  async embedMany() {
    const r = await embedMany({ model: openai.embedding("text-embedding-3-small"), values: ["a quiet harbour", "a busy market", "a quiet harbour"], maxRetries: 0 });
    return { count: r.embeddings.length, same: cosineSimilarity(r.embeddings[0], r.embeddings[2]), other: cosineSimilarity(r.embeddings[0], r.embeddings[1]) };
  },
});
