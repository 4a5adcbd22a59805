// Package reliability is the reliability and security suite of the real aiservice binary over
// real TCP: repeated graceful shutdowns under a mixed load, a bounded soak watching the
// service's goroutines, file descriptors and memory for leaks, a hostile-input matrix (malformed
// JSON, oversized and chunked bodies, header injection, path traversal, slowloris, pipelining,
// clients that never read), and a check that API keys and prompts never leak into logs, spans,
// metrics or responses. The tests live in _test.go files; `go tool task test:reliability`
// runs them and `go tool task soak` runs the soak for two minutes.
package reliability
