// Package translate converts between API dialects as pure functions: no I/O, no clocks, no
// randomness — whatever varies (ids, times) comes in as arguments, so every translation is
// table-testable and round-trips can be checked. The gateway uses it when a client speaks one
// dialect and the model's upstream another: OpenAI's Responses API over an upstream that only
// speaks chat completions (responses*.go), Anthropic's Messages (anthropic*.go).
package translate
