// The npm `openai` SDK against the gateway's chat completions surface, base URL swapped only.
import OpenAI from "openai";
import { zodFunction, zodResponseFormat } from "openai/helpers/zod";
import { env, run, describeError, pngSize } from "./cases.mjs";
import { Recipe, recipePrompt, weather, weatherJSONSchema, weatherPrompt, weatherResult } from "./fixtures.mjs";

const client = new OpenAI({ baseURL: env.baseURL + "/v1", apiKey: env.apiKey, maxRetries: 0, timeout: 20_000 });
const model = env.model;
const weatherTool = { type: "function", function: { name: weather.name, description: weather.description, parameters: weatherJSONSchema } };
const ask = () => [{ role: "user", content: weatherPrompt }];

async function expectError(call) {
  try {
    await call();
  } catch (err) {
    return {
      ...describeError(err),
      isAPIError: err instanceof OpenAI.APIError,
      isNotFound: err instanceof OpenAI.NotFoundError,
      isBadRequest: err instanceof OpenAI.BadRequestError,
      isAuthentication: err instanceof OpenAI.AuthenticationError,
    };
  }
  throw new Error("the call succeeded; an error was expected");
}

await run({
  async chat() {
    const r = await client.chat.completions.create({
      model,
      messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Say hello" }],
    });
    return { object: r.object, model: r.model, content: r.choices[0].message.content, finish: r.choices[0].finish_reason, usage: r.usage };
  },

  async stream() {
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "Tell me something" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let chunks = 0, content = "", finish = null, usage = null;
    for await (const c of stream) {
      chunks++;
      content += c.choices[0]?.delta?.content ?? "";
      finish = c.choices[0]?.finish_reason ?? finish;
      usage = c.usage ?? usage;
    }
    return { chunks, content, finish, usage };
  },

  async tools() {
    const messages = ask();
    const first = await client.chat.completions.create({ model, messages, tools: [weatherTool] });
    const msg = first.choices[0].message;
    const call = msg.tool_calls?.[0];
    if (!call) return { finish: first.choices[0].finish_reason, content: msg.content };
    const args = JSON.parse(call.function.arguments);
    messages.push(msg, { role: "tool", tool_call_id: call.id, content: weatherResult });
    const second = await client.chat.completions.create({ model, messages, tools: [weatherTool] });
    return {
      finish: first.choices[0].finish_reason,
      tool: call.function.name,
      args,
      finalFinish: second.choices[0].finish_reason,
      final: second.choices[0].message.content,
    };
  },

  async streamTools() {
    const s = client.chat.completions.stream({ model, messages: ask(), tools: [weatherTool] });
    let argDeltas = 0;
    s.on("tool_calls.function.arguments.delta", () => argDeltas++);
    const done = await s.finalChatCompletion();
    const call = done.choices[0].message.tool_calls?.[0];
    return { argDeltas, finish: done.choices[0].finish_reason, tool: call?.function.name, args: call && JSON.parse(call.function.arguments) };
  },

  async runTools() {
    const calls = [];
    const runner = client.chat.completions.runTools({
      model,
      messages: ask(),
      tools: [
        zodFunction({
          name: weather.name,
          description: weather.description,
          parameters: weather.input,
          function: (args) => {
            calls.push(args);
            return weatherResult;
          },
        }),
      ],
    });
    return { final: await runner.finalContent(), calls, completions: runner.allChatCompletions().length };
  },

  async structured() {
    const r = await client.chat.completions.parse({
      model,
      messages: [{ role: "user", content: recipePrompt }],
      response_format: zodResponseFormat(Recipe, "recipe"),
    });
    const m = r.choices[0].message;
    return { parsed: m.parsed, valid: Recipe.safeParse(m.parsed).success, finish: r.choices[0].finish_reason };
  },

  async streamStructured() {
    const s = client.chat.completions.stream({
      model,
      messages: [{ role: "user", content: recipePrompt }],
      response_format: zodResponseFormat(Recipe, "recipe"),
    });
    const m = (await s.finalChatCompletion()).choices[0].message;
    return { parsed: m.parsed, valid: Recipe.safeParse(m.parsed).success };
  },

  async models() {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    return { ids };
  },

  async images() {
    const r = await client.images.generate({ model: "gpt-image-1", prompt: "a lighthouse at dusk", size: "512x512", n: 1 });
    return { count: r.data.length, image: pngSize(Buffer.from(r.data[0].b64_json, "base64")) };
  },

  async unknownModel() {
    return { error: await expectError(() => client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] })) };
  },

  async badInput() {
    return { error: await expectError(() => client.chat.completions.create({ model, messages: [] })) };
  },

  async wrongKey() {
    const bad = new OpenAI({ baseURL: env.baseURL + "/v1", apiKey: "wrong", maxRetries: 0, timeout: 20_000 });
    return { error: await expectError(() => bad.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] })) };
  },
});
