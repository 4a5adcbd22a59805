package gctune

import (
	"context"
	"errors"
	"io/fs"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestChoose(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if v, ok := m[name]; ok {
				return []byte(v), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	const v2, v1, self = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/proc/self/cgroup"
	tests := []struct {
		name  string
		env   map[string]string
		files map[string]string
		want  Settings
	}{
		{"no container limit", nil, nil, Settings{GCPercent: 400}},
		{"cgroup v2 limit", nil, map[string]string{v2: "536870912\n"}, Settings{GCPercent: 400, MemoryLimit: 429496729}},
		{"cgroup v2 without limit", nil, map[string]string{v2: "max\n", v1: "1073741824"}, Settings{GCPercent: 400}},
		{"cgroup v1 limit", nil, map[string]string{v1: "268435456\n"}, Settings{GCPercent: 400, MemoryLimit: 214748364}},
		{"cgroup v1 without limit", nil, map[string]string{v1: "9223372036854771712\n"}, Settings{GCPercent: 400}},
		{"garbage in the file", nil, map[string]string{v2: "lots"}, Settings{GCPercent: 400}},
		{"GOGC and GOMEMLIMIT win", map[string]string{"GOGC": "100", "GOMEMLIMIT": "1GiB"}, map[string]string{v2: "536870912"}, Settings{}},
		{"GOGC off still gets the limit", map[string]string{"GOGC": "off"}, map[string]string{v2: "536870912"}, Settings{MemoryLimit: 429496729}},
		{"own cgroup v1 below an unlimited root", nil, map[string]string{
			self: "4:memory:/pod/test\n1:cpu:/\n0::/\n",
			v1:   "9223372036854771712", "/sys/fs/cgroup/memory/pod/memory.limit_in_bytes": "9223372036854771712",
			"/sys/fs/cgroup/memory/pod/test/memory.limit_in_bytes": "104857600\n",
		}, Settings{GCPercent: 400, MemoryLimit: 83886080}},
		{"v1 memory sharing a line with other controllers", nil, map[string]string{
			self: "3:cpuacct,memory:/job\n", "/sys/fs/cgroup/memory/job/memory.limit_in_bytes": "104857600",
		}, Settings{GCPercent: 400, MemoryLimit: 83886080}},
		{"the tightest ancestor wins", nil, map[string]string{
			self: "0::/slice/job\n", "/sys/fs/cgroup/slice/memory.max": "104857600", "/sys/fs/cgroup/slice/job/memory.max": "max",
		}, Settings{GCPercent: 400, MemoryLimit: 83886080}},
		{"own cgroup v2", nil, map[string]string{
			self: "0::/job\n", "/sys/fs/cgroup/job/memory.max": "536870912", v1: "104857600",
		}, Settings{GCPercent: 400, MemoryLimit: 429496729}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Choose(env(tt.env), files(tt.files)); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUnreadableFilesMeanNoLimit(t *testing.T) {
	got := Choose(func(string) string { return "" }, func(string) ([]byte, error) { return nil, errors.New("permission denied") })
	if got != (Settings{GCPercent: Percent}) {
		t.Fatalf("got %+v", got)
	}
}

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name    string
		scanned uint64
		want    int
	}{
		{"nothing read yet", 0, Percent},
		{"a request workload's few MiB", 8 * mib, Percent},
		{"at the headroom's quarter", Headroom / 4, Percent},
		{"1,000 held streams (~50 MiB scanned)", 50 * mib, 128},
		{"twice the headroom", 2 * Headroom, 50},
		{"5,000 held streams (~250 MiB scanned)", 250 * mib, MinPercent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PercentFor(tt.scanned); got != tt.want {
				t.Fatalf("PercentFor(%d) = %d, want %d", tt.scanned, got, tt.want)
			}
		})
	}
}

// Adapt follows what the collector scans, skips changes within a tenth, and leaves a GOGC
// from the environment alone.
func TestAdapt(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name    string
		start   Settings
		scanned []uint64 // read in turn; the last repeats
		want    []int    // the percents set, in order
	}{
		{"streams arrive, then leave", Settings{GCPercent: Percent}, []uint64{8 * mib, 50 * mib, 52 * mib, 250 * mib, 8 * mib}, []int{128, 50, 400}},
		{"a change within a tenth is skipped", Settings{GCPercent: Percent}, []uint64{17 * mib, 64 * mib}, []int{100}},
		{"GOGC set: nothing changes", Settings{}, []uint64{250 * mib}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var reads atomic.Int64
			read := func() uint64 {
				i := min(int(reads.Add(1))-1, len(tt.scanned)-1)
				return tt.scanned[i]
			}
			sets := make(chan int, 16)
			done := make(chan struct{})
			go func() {
				defer close(done)
				Adapt(ctx, tt.start, time.Millisecond, read, func(p int) int { sets <- p; return 0 })
			}()
			// Poll until every scripted value was read at least once more than the script's length.
			deadline := time.Now().Add(5 * time.Second)
			for tt.start.GCPercent != 0 && reads.Load() <= int64(len(tt.scanned)) {
				if time.Now().After(deadline) {
					t.Fatal("Adapt did not read the script within 5s")
				}
				runtime.Gosched()
			}
			cancel()
			<-done
			close(sets)
			var got []int
			for p := range sets {
				got = append(got, p)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("set %v, want %v", got, tt.want)
			}
		})
	}
}

// Scanned reads a live figure of this process: at least the stack of this goroutine.
func TestScannedReadsTheRuntime(t *testing.T) {
	runtime.GC()
	if n := Scanned(); n == 0 {
		t.Fatal("Scanned() = 0 after a collection")
	}
}
