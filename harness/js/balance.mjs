// The npm clients against a model balanced over several deployments, one of which fails every
// request: the gateway retries each failed attempt on another deployment before the first byte,
// so every call succeeds, streamed or not, with the clients' own retries off. CALLS sets how
// many calls each case makes.
import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";
import { env, run } from "./cases.mjs";

const options = { baseURL: env.baseURL + "/v1", apiKey: env.apiKey };
const openai = new OpenAI({ ...options, maxRetries: 0, timeout: 20_000 });
const aisdk = createOpenAI(options).chat(env.model);
const calls = Number(process.env.CALLS || 12);
const messages = [{ role: "user", content: "Tell me something" }];
const common = () => ({ model: aisdk, prompt: "Tell me something", maxRetries: 0, abortSignal: AbortSignal.timeout(20_000) });

// answered counts the calls whose answer had text; a call that throws fails the whole case.
async function answered(call) {
  let ok = 0;
  for (let i = 0; i < calls; i++) if ((await call()).trim() !== "") ok++;
  return { ok, calls };
}

await run({
  openaiCreate: () => answered(async () => (await openai.chat.completions.create({ model: env.model, messages })).choices[0].message.content),

  openaiStream: () =>
    answered(async () => {
      let text = "";
      for await (const c of await openai.chat.completions.create({ model: env.model, messages, stream: true })) text += c.choices[0]?.delta?.content ?? "";
      return text;
    }),

  aisdkGenerate: () => answered(async () => (await generateText(common())).text),

  aisdkStream: () =>
    answered(async () => {
      let text = "";
      const errors = [];
      const result = streamText({ ...common(), onError: ({ error }) => errors.push(error) });
      for await (const d of result.textStream) text += d;
      if (errors.length) throw errors[0];
      return text;
    }),
});
