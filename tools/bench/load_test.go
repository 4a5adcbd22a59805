package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestLoopsCountRefusedApartFromErrors(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		status                int
		wantRefused, wantErrs bool
	}{
		{"answered", http.StatusOK, false, false},
		{"shed", http.StatusTooManyRequests, true, false},
		{"failed", http.StatusBadGateway, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tc.status) }))
			defer srv.Close()
			bs := &bodies{all: [][]byte{[]byte(`{}`)}}
			rps, lat, closed := closedLoop(srv.URL, bs, 2, 50*time.Millisecond)
			_, open := openLoop(srv.URL, bs, 200, 50*time.Millisecond)
			for _, f := range []*failures{closed, open} {
				if (f.refused.Load() > 0) != tc.wantRefused || (f.errors.Load() > 0) != tc.wantErrs {
					t.Errorf("refused %d, errors %d", f.refused.Load(), f.errors.Load())
				}
			}
			if answered := tc.status == http.StatusOK; (rps > 0) != answered || (lat.TotalCount() > 0) != answered {
				t.Errorf("%v req/s and %d latencies for status %d", rps, lat.TotalCount(), tc.status)
			}
		})
	}
}
