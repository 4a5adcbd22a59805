// The Vercel AI SDK (`ai` + `@ai-sdk/openai`) with `openai.chat(model)`: chat completions (the
// default `openai(model)` calls the Responses API: aisdk_responses.mjs).
import { createOpenAI } from "@ai-sdk/openai";
import { APICallError, generateText, streamText, generateObject, generateImage, Output, stepCountIs } from "ai";
import { env, run, describeError, pngSize } from "./cases.mjs";
import { Recipe, recipePrompt, weatherPrompt } from "./fixtures.mjs";
import { weatherTools, usage } from "./aisdk_tools.mjs";

const openai = createOpenAI({ baseURL: env.baseURL + "/v1", apiKey: env.apiKey });
const model = openai.chat(env.model);
// A fresh deadline per call, so a slow case cannot eat the next one's time.
const common = () => ({ model, maxRetries: 0, abortSignal: AbortSignal.timeout(20_000) });

await run({
  async generateText() {
    const r = await generateText({ ...common(), prompt: "Say hello" });
    return { text: r.text, finish: r.finishReason, usage: usage(r.usage) };
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
    return {
      steps: r.steps.length,
      stepFinishes: r.steps.map((s) => s.finishReason),
      calls,
      text: r.text,
      finish: r.finishReason,
    };
  },

  async generateImage() {
    const r = await generateImage({
      model: openai.image("gpt-image-1"),
      prompt: "a lighthouse at dusk",
      size: "512x512",
      maxRetries: 0,
      abortSignal: AbortSignal.timeout(20_000),
    });
    return { count: r.images.length, mediaType: r.image.mediaType, image: pngSize(r.image.uint8Array) };
  },

  async streamMultiStepTools() {
    const calls = [];
    const r = streamText({ ...common(), prompt: weatherPrompt, tools: weatherTools(calls), stopWhen: stepCountIs(3) });
    const parts = {};
    for await (const p of r.fullStream) parts[p.type] = (parts[p.type] ?? 0) + 1;
    return { steps: (await r.steps).length, parts, calls, text: await r.text, finish: await r.finishReason };
  },

  async unknownModel() {
    try {
      await generateText({ model: openai.chat("no-such-model"), prompt: "hi", maxRetries: 0, abortSignal: AbortSignal.timeout(20_000) });
    } catch (err) {
      return { error: { ...describeError(err), isAPICallError: APICallError.isInstance(err), retryable: err.isRetryable } };
    }
    throw new Error("the call succeeded; a 404 was expected");
  },
});
