// `@anthropic-ai/sdk` against a Messages server: the simulator's dialect (service/internal/sim)
// or the gateway's /v1/messages (harness/clients/anthropic*_test.go) — the same cases for both.
import Anthropic from "@anthropic-ai/sdk";
import { env, run, describeError } from "./cases.mjs";
import { weather, weatherJSONSchema, weatherPrompt, weatherResult } from "./fixtures.mjs";

const client = new Anthropic({ baseURL: env.baseURL, apiKey: env.apiKey, maxRetries: 0, timeout: 20_000 });
const model = env.model;
const ask = { role: "user", content: weatherPrompt };
const weatherTool = { name: weather.name, description: weather.description, input_schema: weatherJSONSchema };

function text(msg) {
  return msg.content.filter((b) => b.type === "text").map((b) => b.text).join("");
}

await run({
  async create() {
    const m = await client.messages.create({ model, max_tokens: 200, messages: [ask] });
    return { type: m.type, role: m.role, stop: m.stop_reason, blocks: m.content.map((b) => b.type), text: text(m), usage: m.usage };
  },

  async stream() {
    const s = client.messages.stream({ model, max_tokens: 200, messages: [ask] });
    let deltas = 0;
    s.on("text", () => deltas++);
    const m = await s.finalMessage();
    return { deltas, stop: m.stop_reason, blocks: m.content.map((b) => b.type), text: text(m), usage: m.usage };
  },

  async toolUse() {
    const params = { model, max_tokens: 200, messages: [ask], tools: [weatherTool] };
    const turn = await client.messages.create(params);
    const use = turn.content.find((b) => b.type === "tool_use");
    if (!use) return { stop: turn.stop_reason, blocks: turn.content.map((b) => b.type) };
    const final = await client.messages.create({
      ...params,
      messages: [ask, { role: "assistant", content: turn.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: weatherResult }] }],
    });
    return { stop: turn.stop_reason, tool: use.name, input: use.input, finalStop: final.stop_reason, final: text(final) };
  },

  async streamToolUse() {
    const m = await client.messages.stream({ model, max_tokens: 200, messages: [ask], tools: [weatherTool] }).finalMessage();
    const use = m.content.find((b) => b.type === "tool_use");
    return { stop: m.stop_reason, tool: use?.name, input: use?.input };
  },

  async countTokens() {
    const r = await client.messages.countTokens({ model, messages: [ask] });
    return { inputTokens: r.input_tokens };
  },

  async badInput() {
    try {
      await client.messages.create({ model, max_tokens: 50, messages: [] });
    } catch (err) {
      return { error: { ...describeError(err), isBadRequest: err instanceof Anthropic.BadRequestError, type: err.error?.error?.type } };
    }
    throw new Error("the call succeeded; a 400 was expected");
  },

  async wrongKey() {
    const bad = new Anthropic({ baseURL: env.baseURL, apiKey: "wrong", maxRetries: 0, timeout: 20_000 });
    try {
      await bad.messages.create({ model, max_tokens: 50, messages: [ask] });
    } catch (err) {
      return {
        error: {
          ...describeError(err),
          isAPIError: err instanceof Anthropic.APIError,
          isAuthentication: err instanceof Anthropic.AuthenticationError,
          type: err.error?.error?.type,
        },
      };
    }
    throw new Error("the call succeeded; a 401 was expected");
  },
});
