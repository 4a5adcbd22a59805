// Package chaos is the chaos suite: real network faults, injected with toxiproxy, between a
// client and the real aiservice binary and between the service and a real `aiservice sim`
// process. Each scenario asserts the exact status, error type or SSE event the client sees,
// then that the service recovers: no leaked goroutines or connections, and a normal request
// succeeds.
//
// The toxiproxy server runs in-process (started in TestMain); each test creates its own two
// proxies, named after the test, and removes them, so tests do not depend on each other.
//
//	client ──► proxy "<test>_client" ──► aiservice serve ──► proxy "<test>_upstream" ──► aiservice sim
//
// The resource scenarios (resource_test.go) confine the service process itself instead: a
// cgroup CPU quota, a memory cgroup (or GOMEMLIMIT), a low RLIMIT_NOFILE (harness/resource),
// lifted again before the recovery check.
//
// Run with `go tool task test:chaos`.
package chaos
