package chaos

import (
	"fmt"
	"os"
	"testing"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"aiservice/harness/launch"
)

// toxi drives the in-process toxiproxy server every test creates its proxies on.
var toxi *toxiclient.Client

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var stop func()
	toxi, stop = launch.StartToxiproxy()
	defer stop()

	// Build the binary once, before the first test, so no scenario's timing includes a build.
	if _, err := launch.Binary(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	return m.Run()
}
