// LangChain.js `ChatOpenAI` (`@langchain/openai`) against the gateway's chat completions surface.
import { ChatOpenAI } from "@langchain/openai";
import { HumanMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { env, run, describeError } from "./cases.mjs";
import { Recipe, recipePrompt, weather, weatherPrompt, weatherResult } from "./fixtures.mjs";

const llm = new ChatOpenAI({
  model: env.model,
  apiKey: env.apiKey,
  configuration: { baseURL: env.baseURL + "/v1" },
  maxRetries: 0,
  timeout: 20_000,
});

const getWeather = tool(async () => weatherResult, { name: weather.name, description: weather.description, schema: weather.input });

await run({
  async invoke() {
    const m = await llm.invoke("Say hello");
    return { content: m.content, finish: m.response_metadata?.finish_reason, usage: m.usage_metadata };
  },

  async stream() {
    let chunks = 0, content = "", usage;
    for await (const c of await llm.stream("Tell me something")) {
      chunks++;
      content += typeof c.content === "string" ? c.content : "";
      usage = c.usage_metadata ?? usage;
    }
    return { chunks, content, usage };
  },

  async bindTools() {
    const withTools = llm.bindTools([getWeather]);
    const ask = new HumanMessage(weatherPrompt);
    const first = await withTools.invoke([ask]);
    const call = first.tool_calls?.[0];
    if (!call) return { content: first.content };
    // Invoked with a tool call, a LangChain tool answers a ToolMessage carrying the call's id.
    const result = await getWeather.invoke(call);
    const final = await withTools.invoke([ask, first, result]);
    return { tool: call.name, args: call.args, final: final.content, finalToolCalls: final.tool_calls?.length ?? 0 };
  },

  async streamTools() {
    // Tool-call chunks concatenate into one message whose tool_calls carry parsed arguments.
    let msg, chunks = 0;
    for await (const c of await llm.bindTools([getWeather]).stream(weatherPrompt)) {
      chunks++;
      msg = msg ? msg.concat(c) : c;
    }
    const call = msg?.tool_calls?.[0];
    return { chunks, tool: call?.name, args: call?.args };
  },

  async withStructuredOutput() {
    const structured = llm.withStructuredOutput(Recipe, { name: "recipe" });
    const object = await structured.invoke(recipePrompt);
    return { object, valid: Recipe.safeParse(object).success };
  },

  async unknownModel() {
    const missing = new ChatOpenAI({ model: "no-such-model", apiKey: env.apiKey, configuration: { baseURL: env.baseURL + "/v1" }, maxRetries: 0, timeout: 20_000 });
    try {
      await missing.invoke("hi");
    } catch (err) {
      return { error: { ...describeError(err), code: err.lc_error_code } };
    }
    throw new Error("the call succeeded; a 404 was expected");
  },
});
