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

// allocationMeter reads a gateway path's allocation counters around one measurement; the
// other paths serve no /metrics, so they have no figure.
type allocationMeter struct {
	t              target
	mallocs, bytes float64
	err            error
}

func meterAllocations(t target) allocationMeter {
	m := allocationMeter{t: t}
	if isGateway(t.name) {
		m.mallocs, m.bytes, m.err = allocations(t.addr)
	}
	return m
}

// per is the allocations and bytes since the meter started, divided by n units of work.
func (m allocationMeter) per(n float64) (allocs, bytes float64, ok bool) {
	if !isGateway(m.t.name) || m.err != nil {
		return 0, 0, false
	}
	m1, b1, err := allocations(m.t.addr)
	if err != nil {
		return 0, 0, false
	}
	return ratio(m1-m.mallocs, n), ratio(b1-m.bytes, n), true
}
