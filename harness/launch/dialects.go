package launch

// BothDialects is a service configuration with a model on each upstream dialect of the
// Responses API, both on the built-in simulator: gpt-4o-mini on a chat provider (the gateway
// translates Responses to chat completions) and gpt-4o-r on a provider with `api: responses`
// (the client's bytes pass through), plus the embedding model the clients' cases ask for.
const BothDialects = `
providers:
  - {name: sim, type: sim}
  - {name: simr, type: sim, api: responses}
models:
  - {name: gpt-4o-mini, provider: sim}
  - {name: gpt-4o-r, provider: simr, upstream_model: gpt-4o-mini}
  - {name: text-embedding-3-small, provider: sim, kind: embedding}
prices:
  gpt-4o-r: {input_per_1m: 0.15, output_per_1m: 0.60}
`

// DialectModels are BothDialects' chat models: translated, then passed through.
var DialectModels = []string{"gpt-4o-mini", "gpt-4o-r"}
