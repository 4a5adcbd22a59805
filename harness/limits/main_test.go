// Package limits tests keys, rate limits and budgets against real processes: aiservice
// replicas sharing one redis-server (or one replica with its embedded store), 200 concurrent
// clients on one key, and toxiproxy faults on the aiservice↔Redis hop.
package limits

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

var toxi *toxiclient.Client

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	zerolog.SetGlobalLevel(zerolog.ErrorLevel)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	api := httptest.NewServer(srv.Routes())
	defer api.Close()
	defer func() { _ = srv.Collection.Clear() }()
	toxi = toxiclient.NewClient(api.URL)
	if _, err := launch.Binary(); err != nil {
		fmt.Fprintln(os.Stderr, "limits:", err)
		return 1
	}
	return m.Run()
}
