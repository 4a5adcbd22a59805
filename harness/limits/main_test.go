// Package limits tests keys, rate limits and budgets against real processes: aiservice
// replicas sharing one redis-server (or one replica with its embedded store), 200 concurrent
// clients on one key, and toxiproxy faults on the aiservice↔Redis hop.
package limits

import (
	"fmt"
	"os"
	"testing"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"aiservice/harness/launch"
)

var toxi *toxiclient.Client

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var stop func()
	toxi, stop = launch.StartToxiproxy()
	defer stop()
	if _, err := launch.Binary(); err != nil {
		fmt.Fprintln(os.Stderr, "limits:", err)
		return 1
	}
	return m.Run()
}
