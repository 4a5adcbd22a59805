package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
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
