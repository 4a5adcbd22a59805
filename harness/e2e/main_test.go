// Package e2e tests the real aiservice binary over TCP from the outside: the official OpenAI Go
// SDK as a client, graceful shutdown with signals, trace propagation into an OTLP receiver,
// and exact metric deltas.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"aiservice/harness/launch"
)

func TestMain(m *testing.M) {
	if _, err := launch.Binary(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
