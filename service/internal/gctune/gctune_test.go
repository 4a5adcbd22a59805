package gctune

import (
	"errors"
	"io/fs"
	"testing"
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
