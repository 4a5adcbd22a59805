// Package provider holds the provider side of the two Pact contracts (the tests only): it
// replays the committed pact files in harness/pacts against real processes —
//
//   - aiservice-client → aiservice against the aiservice binary (two instances, with and
//     without API keys, behind a switch the provider states flip), upstream = an `aiservice
//     sim` process whose behaviour the states change;
//   - aiservice → openai-compatible-upstream against the built-in simulator (`aiservice sim`),
//     so the simulator stays faithful to the wire format the service depends on.
//
// Run the consumer tests first: they write the pact files these tests read.
package provider
