// LangChain.js `OpenAIEmbeddings` against the gateway's embeddings.
import { OpenAIEmbeddings } from "@langchain/openai";
import { env, run } from "./cases.mjs";

const embeddings = new OpenAIEmbeddings({
  model: "text-embedding-3-small", apiKey: env.apiKey, maxRetries: 0, configuration: { baseURL: env.baseURL + "/v1" },
});

await run({
  async embedQuery() {
    const v = await embeddings.embedQuery("What is the weather in Lisbon?");
    return { dims: v.length, norm: Math.sqrt(v.reduce((s, x) => s + x * x, 0)) };
  },

  async embedDocuments() {
    const vs = await embeddings.embedDocuments(["first document", "second document", "third document"]);
    return { count: vs.length, dims: vs[0].length };
  },
});
