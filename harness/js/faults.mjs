// What the npm clients see when an upstream fails: the Go test sets the simulator's faults (a
// status, or a stream cut short) and runs some of these cases (CASES), one call per client,
// each returning the error it caught (and what arrived before it). The OpenAI-compatible
// clients call the gateway in front of the simulator; @anthropic-ai/sdk calls the simulator.
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { APICallError, generateText, streamText } from "ai";
import { ChatOpenAI } from "@langchain/openai";
import { env, run, describeError } from "./cases.mjs";

const options = { baseURL: env.baseURL + "/v1", apiKey: env.apiKey };
const openai = new OpenAI({ ...options, maxRetries: 0, timeout: 20_000 });
const aisdk = createOpenAI(options).chat(env.model);
const langchain = new ChatOpenAI({ model: env.model, apiKey: env.apiKey, configuration: { baseURL: options.baseURL }, maxRetries: 0, timeout: 20_000 });
const anthropic = new Anthropic({ baseURL: env.baseURL, apiKey: env.apiKey, maxRetries: 0, timeout: 20_000 });
const messages = [{ role: "user", content: "Tell me something" }];

function caught(err, extra = {}) {
  return {
    error: {
      ...describeError(err),
      isOpenAIAPIError: err instanceof OpenAI.APIError,
      isRateLimit: err instanceof OpenAI.RateLimitError,
      isInternalServer: err instanceof OpenAI.InternalServerError,
      isAPICallError: APICallError.isInstance(err),
      isAnthropicAPIError: err instanceof Anthropic.APIError,
      isAnthropicRateLimit: err instanceof Anthropic.RateLimitError,
      isAnthropicOverloaded: err instanceof Anthropic.OverloadedError,
      // OpenAI's error body is {error: {type}}; Anthropic's is {type: "error", error: {type}}.
      type: err?.error?.error?.type ?? err?.error?.type ?? err?.data?.error?.type,
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

  async anthropicCreate() {
    try {
      return { text: (await anthropic.messages.create({ model: env.model, max_tokens: 200, messages })).content[0]?.text };
    } catch (err) {
      return caught(err);
    }
  },

  async anthropicStream() {
    let deltas = 0;
    try {
      const s = anthropic.messages.stream({ model: env.model, max_tokens: 200, messages });
      s.on("text", () => deltas++);
      await s.finalMessage();
      return { deltas };
    } catch (err) {
      return caught(err, { deltas });
    }
  },
});
