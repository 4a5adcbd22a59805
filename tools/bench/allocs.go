package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// allocations reads a gateway's Go allocation counters (go_memstats_mallocs_total and
// go_memstats_alloc_bytes_total, from client_golang's Go collector on its /metrics) since the
// process started. Unlike CPU time on a shared machine, what a request allocates does not move
// with the scheduler, so a difference of a few allocations per request between two gateways is
// a real difference in the work they do.
func allocations(addr string) (mallocs, bytes float64, err error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, 0, fmt.Errorf("metrics of %s: %w", addr, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, 0, fmt.Errorf("metrics of %s: %w", addr, err)
	}
	read := func(name string) (float64, error) {
		f, ok := fams[name]
		if !ok || len(f.GetMetric()) != 1 {
			return 0, fmt.Errorf("metrics of %s: no %s", addr, name)
		}
		m := f.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue(), nil
		}
		return m.GetUntyped().GetValue(), nil
	}
	if mallocs, err = read("go_memstats_mallocs_total"); err != nil {
		return 0, 0, err
	}
	bytes, err = read("go_memstats_alloc_bytes_total")
	return mallocs, bytes, err
}

// isGateway says whether a path is an aiservice process, which serves /metrics.
func isGateway(path string) bool { return strings.HasPrefix(path, "gateway") }
