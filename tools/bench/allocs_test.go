package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestAllocations(t *testing.T) {
	for _, tc := range []struct {
		name, body     string
		mallocs, bytes float64
		err            string
	}{
		{"client_golang's Go collector", "# HELP go_memstats_mallocs_total Total number of mallocs.\n# TYPE go_memstats_mallocs_total counter\n" +
			"go_memstats_mallocs_total 4.089264e+06\n# TYPE go_memstats_alloc_bytes_total counter\ngo_memstats_alloc_bytes_total 5.2652444e+08\n" +
			"http_requests_total{route=\"/v1/chat/completions\"} 12\n", 4089264, 526524440, ""},
		{"untyped", "go_memstats_mallocs_total 10\ngo_memstats_alloc_bytes_total 20\n", 10, 20, ""},
		{"no counters", "up 1\n", 0, 0, "no go_memstats_mallocs_total"},
		{"not the text format", "{\"not\": \"metrics\"}", 0, 0, "metrics of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/metrics" {
					http.NotFound(w, r)
					return
				}
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			m, b, err := allocations(strings.TrimPrefix(srv.URL, "http://"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || m != tc.mallocs || b != tc.bytes {
				t.Fatalf("got %v, %v, %v; want %v, %v", m, b, err, tc.mallocs, tc.bytes)
			}
		})
	}
}

func TestAllocationMeter(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1) // each scrape: 100 more allocations, 4,000 more bytes
		fmt.Fprintf(w, "go_memstats_mallocs_total %d\ngo_memstats_alloc_bytes_total %d\n", n*100, n*4000)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name          string
		t             target
		n             float64
		allocs, bytes float64
		ok            bool
	}{
		{"a gateway, over 10 units", target{name: "gateway", addr: addr}, 10, 10, 400, true},
		{"a traced gateway, over 4", target{name: "gateway-traced", addr: addr}, 4, 25, 1000, true},
		{"the proxy has no counters", target{name: "proxy", addr: addr}, 10, 0, 0, false},
		{"a gateway that cannot be read", target{name: "gateway", addr: "127.0.0.1:1"}, 10, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			allocs, bytes, ok := meterAllocations(tc.t).per(tc.n)
			if allocs != tc.allocs || bytes != tc.bytes || ok != tc.ok {
				t.Fatalf("got %v, %v, %v; want %v, %v, %v", allocs, bytes, ok, tc.allocs, tc.bytes, tc.ok)
			}
		})
	}
}
