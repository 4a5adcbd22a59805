// What the OpenAI-compatible npm clients see when the upstream fails behind the gateway: the
// Go test sets the simulator's faults (a status, or a stream cut short) and runs these cases,
// one call per client, each returning the error it caught (and what arrived before it).
import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { APICallError, generateText, streamText } from "ai";
import { ChatOpenAI } from "@langchain/openai";
import { env, run, describeError } from "./cases.mjs";

const options = { baseURL: env.baseURL + "/v1", apiKey: env.apiKey };
const openai = new OpenAI({ ...options, maxRetries: 0, timeout: 20_000 });
const aisdk = createOpenAI(options).chat(env.model);
const langchain = new ChatOpenAI({ model: env.model, apiKey: env.apiKey, configuration: { baseURL: options.baseURL }, maxRetries: 0, timeout: 20_000 });
const messages = [{ role: "user", content: "Tell me something" }];

function caught(err, extra = {}) {
  return {
    error: {
      ...describeError(err),
      isOpenAIAPIError: err instanceof OpenAI.APIError,
      isRateLimit: err instanceof OpenAI.RateLimitError,
      isInternalServer: err instanceof OpenAI.InternalServerError,
      isAPICallError: APICallError.isInstance(err),
      type: err?.error?.type ?? err?.data?.error?.type,
    },
    ...extra,
  };
}

await run({
  async openaiCreate() {
    try {
      return { content: (await openai.chat.completions.create({ model: env.model, messages })).choices[0].message.content };
    } catch (err) {
      return caught(err);
    }
  },

  async openaiStream() {
    let chunks = 0;
    try {
      for await (const c of await openai.chat.completions.create({ model: env.model, messages, stream: true })) if (c.choices[0]?.delta?.content) chunks++;
      return { chunks };
    } catch (err) {
      return caught(err, { chunks });
    }
  },

  async aisdkGenerate() {
    try {
      return { text: (await generateText({ model: aisdk, messages, maxRetries: 0, abortSignal: AbortSignal.timeout(20_000) })).text };
    } catch (err) {
      return caught(err);
    }
  },

  async aisdkStream() {
    // streamText reports failures through onError and an "error" part, not by throwing.
    const errors = [];
    const r = streamText({ model: aisdk, messages, maxRetries: 0, abortSignal: AbortSignal.timeout(20_000), onError: ({ error }) => errors.push(error) });
    let deltas = 0;
    for await (const p of r.fullStream) if (p.type === "text-delta") deltas++;
    return errors.length ? caught(errors[0], { deltas, errors: errors.length }) : { deltas };
  },

  async langchainInvoke() {
    try {
      return { content: (await langchain.invoke(messages)).content };
    } catch (err) {
      return caught(err);
    }
  },

  async langchainStream() {
    let chunks = 0;
    try {
      for await (const c of await langchain.stream(messages)) if (c.content) chunks++;
      return { chunks };
    } catch (err) {
      return caught(err, { chunks });
    }
  },
});
