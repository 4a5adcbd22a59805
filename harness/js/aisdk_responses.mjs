// The Vercel AI SDK's default provider `openai(model)` — the Responses API — and its embeddings.
import { createOpenAI } from "@ai-sdk/openai";
import { embed, embedMany, cosineSimilarity } from "ai";
import { env, run } from "./cases.mjs";
import { languageCases } from "./aisdk_cases.mjs";

const openai = createOpenAI({ baseURL: env.baseURL + "/v1", apiKey: env.apiKey });
const model = openai(env.model);
const common = () => ({ model, maxRetries: 0, abortSignal: AbortSignal.timeout(20_000) });

await run({
  ...languageCases(common),

  async embed() {
    const r = await embed({ model: openai.embedding("text-embedding-3-small"), value: "sunny day at the beach", maxRetries: 0 });
    return { dims: r.embedding.length, tokens: r.usage.tokens };
  },

  async embedMany() {
    const r = await embedMany({ model: openai.embedding("text-embedding-3-small"), values: ["a quiet harbour", "a busy market", "a quiet harbour"], maxRetries: 0 });
    return { count: r.embeddings.length, same: cosineSimilarity(r.embeddings[0], r.embeddings[2]), other: cosineSimilarity(r.embeddings[0], r.embeddings[1]) };
  },
});
