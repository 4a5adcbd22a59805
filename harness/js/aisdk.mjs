// The Vercel AI SDK (`ai` + `@ai-sdk/openai`) with `openai.chat(model)`: chat completions (the
// default `openai(model)` calls the Responses API: aisdk_responses.mjs).
import { createOpenAI } from "@ai-sdk/openai";
import { APICallError, generateText, generateImage } from "ai";
import { env, run, describeError, pngSize } from "./cases.mjs";
import { languageCases } from "./aisdk_cases.mjs";

const openai = createOpenAI({ baseURL: env.baseURL + "/v1", apiKey: env.apiKey });
const model = openai.chat(env.model);
// A fresh deadline per call, so a slow case cannot eat the next one's time.
const common = () => ({ model, maxRetries: 0, abortSignal: AbortSignal.timeout(20_000) });

await run({
  ...languageCases(common),

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

  async unknownModel() {
    try {
      await generateText({ model: openai.chat("no-such-model"), prompt: "hi", maxRetries: 0, abortSignal: AbortSignal.timeout(20_000) });
    } catch (err) {
      return { error: { ...describeError(err), isAPICallError: APICallError.isInstance(err), retryable: err.isRetryable } };
    }
    throw new Error("the call succeeded; a 404 was expected");
  },
});
