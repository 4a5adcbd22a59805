// What every script asks its client, shared so that the Go tests expect the same of each: a
// weather question with a tool to answer it, and a recipe in a schema.
import { z } from "zod";

export const weatherPrompt = "What is the weather in Lisbon today?";
// The tool's result: the Go tests look for it in the answer after the tool turn.
export const weatherResult = "19 C, clear";
export const weather = {
  name: "get_weather",
  description: "Current weather for a city",
  input: z.object({ city: z.string(), unit: z.enum(["celsius", "fahrenheit"]) }),
};
// The same input as JSON Schema, for the clients that take one (raw OpenAI tools, Anthropic).
export const weatherJSONSchema = z.toJSONSchema(weather.input);

export const recipePrompt = "A recipe for a quick lunch";
export const Recipe = z.object({
  title: z.string(),
  servings: z.number().int().min(1).max(12),
  ingredients: z.array(z.string()),
  vegetarian: z.boolean(),
});
