package reliability

import (
	"fmt"
	"os"
	"testing"

	"aiservice/harness/launch"
)

func TestMain(m *testing.M) {
	// Build the binary once, before the first test, so no cycle or soak window includes a build.
	if _, err := launch.Binary(); err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
