package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"strings"
	"testing"
	"time"
)

func TestProfiler(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.Handle("/debug/pprof/heap", pprof.Handler("heap"))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	defer gone.Close()
	addr := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	for _, tc := range []struct {
		name, dir, addr, want string
	}{
		{"CPU and heap profiles and their top entries", t.TempDir(), addr(srv), "Type: inuse_space"},
		{"the CPU profile too", t.TempDir(), addr(srv), "Type: cpu"},
		{"no listener answers", t.TempDir(), addr(gone), "no cpu profile: fetch profile: status 404"},
		{"off without -pprof", "", addr(srv), ""},
		{"off for a path without a listener", t.TempDir(), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := profiler{tc.dir}.during(tc.addr, "gw", time.Now(), time.Second)()
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q in it", got, tc.want)
			}
		})
	}
}
