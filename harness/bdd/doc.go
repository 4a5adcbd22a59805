// Package bdd runs the Gherkin features in /features against real aiservice and simulator
// processes (started through harness/launch) with godog. The step definitions live in this
// package's _test.go files; run them with `go test ./harness/bdd/...` or `task test:bdd`.
// See features/README.md for how QA reads and runs the features.
package bdd
