package main

import (
	"bufio"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReadSSE(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		events  int
		wantErr error
	}{
		{"events then done", "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n", 2, nil},
		{"no space after the colon", "data:{}\n\ndata:[DONE]\n\n", 1, nil},
		{"comments and event names are not data", ": ping\n\nevent: x\ndata: {}\n\ndata: [DONE]\n\n", 1, nil},
		{"cut before done", "data: {}\n\n", 1, errNoDone},
		{"a line longer than the buffer", "data: " + strings.Repeat("x", 10000) + "\n\ndata: [DONE]\n\n", 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			err := readSSE(bufio.NewReader(strings.NewReader(tc.in)), func() { n++ })
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if n != tc.events {
				t.Errorf("%d data events, want %d", n, tc.events)
			}
		})
	}
}

func TestHold(t *testing.T) {
	const chunks, gap = 4, 5 * time.Millisecond
	refuse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"type":"rate_limit_error"}}`, http.StatusTooManyRequests)
	})
	cut := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("data: {}\n\n"))
	})
	for _, tc := range []struct {
		name                                 string
		h                                    http.Handler
		wantStreams, wantRefused, wantErrors bool
	}{
		{"paced fixture", newFixture([]int{1024}, chunks, gap), true, false, false},
		{"refusing upstream", refuse, false, true, false},
		{"streams cut before [DONE]", cut, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			res := hold(srv.URL+"/v1/chat/completions", &bodies{all: realisticBodies(true)}, 4, chunks, 100*time.Millisecond, chunks*gap, os.Getpid())
			if got := res.streams > 0; got != tc.wantStreams {
				t.Errorf("%d streams read to [DONE]", res.streams)
			}
			if got := res.refused > 0; got != tc.wantRefused {
				t.Errorf("%d refused", res.refused)
			}
			if got := res.errors > 0; got != tc.wantErrors {
				t.Errorf("%d errors", res.errors)
			}
			if tc.wantStreams {
				gaps := res.gap.merged()
				if gaps.TotalCount() != int64(res.streams*(chunks-1)) {
					t.Errorf("%d gaps for %d streams of %d chunks", gaps.TotalCount(), res.streams, chunks)
				}
				if res.chunks < res.streams*chunks {
					t.Errorf("%d chunks counted for %d streams of %d chunks", res.chunks, res.streams, chunks)
				}
				if res.firstChunk.merged().TotalCount() != int64(res.streams) || res.hwm <= 0 {
					t.Errorf("first chunks %d, HWM %v", res.firstChunk.merged().TotalCount(), res.hwm)
				}
			}
		})
	}
}

func TestOpenAt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name    string
		streams []interval
		want    []float64 // at 0, 100, 200 ms
	}{
		{"none", nil, []float64{0, 0, 0}},
		{"one across all", []interval{{at(-10), at(300)}}, []float64{1, 1, 1}},
		{"open at its start, closed at its end", []interval{{at(100), at(200)}}, []float64{0, 1, 0}},
		{"back to back", []interval{{at(-5), at(100)}, {at(100), at(250)}, {at(50), at(150)}}, []float64{1, 2, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := openAt([]time.Time{at(0), at(100), at(200)}, tc.streams)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
