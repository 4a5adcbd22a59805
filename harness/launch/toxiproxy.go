package launch

import (
	"net/http/httptest"

	"github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// StartToxiproxy runs a toxiproxy server in the test process (for a TestMain) and returns its
// client and the function that stops it and closes every proxy left behind.
func StartToxiproxy() (*toxiclient.Client, func()) {
	// Some toxics log through zerolog's global logger at trace level; keep test output readable.
	zerolog.SetGlobalLevel(zerolog.ErrorLevel)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	api := httptest.NewServer(srv.Routes())
	return toxiclient.NewClient(api.URL), func() {
		// Proxies a failed test left behind must not keep ports open after the run.
		_ = srv.Collection.Clear()
		api.Close()
	}
}
