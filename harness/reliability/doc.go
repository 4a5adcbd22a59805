// Package reliability is the reliability and security suite of the real aiservice binary over
// real TCP: repeated graceful shutdowns under a mixed load, a bounded soak watching the
// service's goroutines, file descriptors and memory for leaks, a hostile-input matrix (malformed
// JSON, oversized and chunked bodies, header injection, path traversal, slowloris, pipelining,
// clients that never read, keys an upstream could read differently from the gateway), a
// hostile-upstream matrix (unbounded and lying bodies, redirects, keep-alive-only and oversized
// streams, malformed successes, echoed keys, absurd Retry-After, tool-call floods; see
// docs/security.md), the internals a serve process must not expose, and a check that API keys
// and prompts never leak into logs, spans, metrics or responses. The tests live in _test.go files; `go tool task test:reliability`
// runs them and `go tool task soak` runs the soak for two minutes.
package reliability
