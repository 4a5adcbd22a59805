package main

import (
	"os"
	"syscall"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       float64
	}{
		{"plain", "42 (bench) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0", 3},
		{"name with spaces and parentheses", "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 8 0 100 0 0", 0.1},
		{"truncated", "42 (bench) S 1", 0},
		{"garbage", "nothing here", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseStatCPU(tc.stat); got != tc.want {
				t.Errorf("got %v s, want %v", got, tc.want)
			}
		})
	}
}

func TestParseStatusMemory(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		want         memory
	}{
		{"both", "Name:\tbench\nVmHWM:\t  20480 kB\nVmRSS:\t  10240 kB\nThreads:\t8\n", memory{rss: 10, hwm: 20}},
		{"none", "Name:\tbench\n", memory{}},
		{"malformed", "VmRSS:\n VmHWM: x kB\n", memory{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseStatusMemory(tc.status); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if m := memoryMiB(os.Getpid()); m.rss <= 0 || m.hwm < m.rss {
		t.Errorf("this process: %+v, want RSS > 0 and HWM ≥ RSS", m)
	}
}

func TestRaiseNoFile(t *testing.T) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	if l.Max == ^uint64(0) {
		t.Skip("no hard limit to exceed")
	}
	for _, tc := range []struct {
		name    string
		need    uint64
		wantErr bool
	}{
		{"within the hard limit", 64, false},
		{"above the hard limit", l.Max + 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := raiseNoFile(tc.need)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want an error: %v", err, tc.wantErr)
			}
			if got != l.Max {
				t.Errorf("soft limit %d, want it raised to the hard limit %d", got, l.Max)
			}
		})
	}
}
