// The npm `openai` SDK against the gateway's Responses API and embeddings, base URL swapped only.
import OpenAI from "openai";
import { env, run, describeError } from "./cases.mjs";
import { weather, weatherJSONSchema, weatherPrompt, weatherResult } from "./fixtures.mjs";

const client = new OpenAI({ baseURL: env.baseURL + "/v1", apiKey: env.apiKey, maxRetries: 0, timeout: 20_000 });
const model = env.model;
const weatherTool = { type: "function", name: weather.name, description: weather.description, parameters: weatherJSONSchema, strict: false };

await run({
  async create() {
    const r = await client.responses.create({ model, instructions: "Be brief.", input: "Say hello" });
    return { object: r.object, status: r.status, model: r.model, text: r.output_text, usage: r.usage };
  },

  async conversation() {
    const first = await client.responses.create({ model, input: "My name is Sam." });
    const next = await client.responses.create({ model, input: "What is my name?", previous_response_id: first.id });
    const got = await client.responses.retrieve(first.id);
    const items = await client.responses.inputItems.list(first.id);
    await client.responses.delete(first.id);
    let afterDelete = null;
    try {
      await client.responses.retrieve(first.id);
    } catch (err) {
      afterDelete = { ...describeError(err), isNotFound: err instanceof OpenAI.NotFoundError };
    }
    return {
      previous: next.previous_response_id === first.id,
      grew: next.usage.input_tokens > first.usage.input_tokens,
      retrieved: got.id === first.id && got.output_text === first.output_text,
      items: items.data.length,
      afterDelete,
    };
  },

  async stream() {
    const stream = await client.responses.create({ model, input: "Tell me something", stream: true });
    const types = new Set();
    let text = "", ordered = true, last = -1, completed = null;
    for await (const ev of stream) {
      types.add(ev.type);
      ordered &&= ev.sequence_number === last + 1;
      last = ev.sequence_number;
      if (ev.type === "response.output_text.delta") text += ev.delta;
      if (ev.type === "response.completed") completed = ev.response;
    }
    return { types: [...types], ordered, text, same: completed?.output_text === text, usage: completed?.usage };
  },

  async streamHelper() {
    const stream = client.responses.stream({ model, input: "Tell me something" });
    let deltas = 0;
    stream.on("response.output_text.delta", () => deltas++);
    const final = await stream.finalResponse();
    return { deltas, status: final.status, text: final.output_text };
  },

  async tools() {
    const first = await client.responses.create({ model, input: weatherPrompt, tools: [weatherTool] });
    const call = first.output.find((o) => o.type === "function_call");
    if (!call) return { output: first.output.map((o) => o.type) };
    const final = await client.responses.create({
      model, previous_response_id: first.id, tools: [weatherTool],
      input: [{ type: "function_call_output", call_id: call.call_id, output: weatherResult }],
    });
    return { tool: call.name, args: JSON.parse(call.arguments), final: final.output_text };
  },

  async embeddingsFloat() {
    const r = await client.embeddings.create({ model: "text-embedding-3-small", input: ["a cat", "a dog"], encoding_format: "float" });
    return { count: r.data.length, dims: r.data[0].embedding.length, isArray: Array.isArray(r.data[0].embedding), usage: r.usage };
  },

  async embeddingsBase64() {
    // The SDK asks for base64 by default and decodes it to floats; here the raw string is kept.
    const r = await client.embeddings.create({ model: "text-embedding-3-small", input: "a cat", encoding_format: "base64", dimensions: 64 });
    const raw = r.data[0].embedding;
    return { isString: typeof raw === "string", bytes: Buffer.from(raw, "base64").length };
  },

  async embeddingsDefault() {
    const r = await client.embeddings.create({ model: "text-embedding-3-small", input: "a cat", dimensions: 32 });
    const v = r.data[0].embedding;
    return { dims: v.length, norm: Math.sqrt(v.reduce((s, x) => s + x * x, 0)) };
  },

  async nChoices() {
    const r = await client.chat.completions.create({ model, n: 2, messages: [{ role: "user", content: "Say hello" }] });
    return { choices: r.choices.length, distinct: r.choices[0].message.content !== r.choices[1].message.content, indexes: r.choices.map((c) => c.index) };
  },
});
