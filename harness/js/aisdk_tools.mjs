// What the AI SDK scripts share: the weather tool with its execute, and the usage they report.
import { tool } from "ai";
import { weather, weatherResult } from "./fixtures.mjs";

// weatherTools records each call the SDK executes in calls.
export function weatherTools(calls) {
  return {
    [weather.name]: tool({
      description: weather.description,
      inputSchema: weather.input,
      execute: async (input) => {
        calls.push(input);
        return weatherResult;
      },
    }),
  };
}

export const usage = (u) => ({ inputTokens: u?.inputTokens, outputTokens: u?.outputTokens });
