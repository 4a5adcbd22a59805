// Package consumer holds the consumer side of the two Pact contracts (the tests only):
//
//   - aiservice-client → aiservice: the harness client (harness/client) against a Pact mock
//     server, one interaction per API behaviour a client relies on;
//   - aiservice → openai-compatible-upstream: the real aiservice binary with its upstream
//     pointed at a Pact mock server, driven through its API, so the recorded requests are
//     exactly what the service's `openai` provider sends.
//
// A full, successful run rewrites the pact files in harness/pacts (see TestMain). The tests
// need the Pact FFI library: source .ci/pact-env.sh first, or run `go tool task test:contract`.
package consumer
