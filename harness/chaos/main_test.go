package chaos

import (
	"fmt"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"aiservice/harness/launch"
)

// toxi drives the in-process toxiproxy server every test creates its proxies on.
var toxi *toxiclient.Client

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Some toxics log through zerolog's global logger at trace level; keep test output readable.
	zerolog.SetGlobalLevel(zerolog.ErrorLevel)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	api := httptest.NewServer(srv.Routes())
	defer api.Close()
	// Proxies a failed test left behind must not keep ports open after the run.
	defer func() { _ = srv.Collection.Clear() }()
	toxi = toxiclient.NewClient(api.URL)

	// Build the binary once, before the first test, so no scenario's timing includes a build.
	if _, err := launch.Binary(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	return m.Run()
}
