package check

import (
	"slices"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{`rate(x{job=~"$job"}[$__rate_interval])`, `rate(x{job=~".+"}[1m])`, ""},
		// $route must not eat the start of $route_group.
		{`x{route=~"$route", route_group=~"${route_group}"}`, `x{route=~".+", route_group=~".+"}`, ""},
		{`increase(x[$__range])`, `increase(x[5m])`, ""},
		{`x{a="$nope"}`, "", "unknown variables [nope]"},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in, AllValues)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Expand(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestMetricNames(t *testing.T) {
	e, err := Parse(`sum(rate(a_total{x="1"}[1m])) / on() group_left slo:x:ratio or vector(0) + ALERTS`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := MetricNames(e), []string{"ALERTS", "a_total", "slo:x:ratio"}; !slices.Equal(got, want) {
		t.Errorf("MetricNames = %v, want %v", got, want)
	}
}

func TestReadContract(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	c, err := ReadContract(root)
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]string{
		"http_requests_total": "counter", "http_request_duration_seconds": "histogram",
		"cost_request_cost_usd": "histogram", "slo_events_total": "counter", "process_resident_memory_bytes": "gauge", "process_cpu_seconds_total": "counter",
	} {
		if c[name] != typ {
			t.Errorf("contract %s = %q, want %q", name, c[name], typ)
		}
	}
	if !c.SeriesNames()["cost_request_cost_usd_sum"] {
		t.Error("histogram series cost_request_cost_usd_sum not allowed by the contract")
	}
}
