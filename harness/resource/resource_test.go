package resource

import (
	"os"
	"testing"
	"time"
)

func TestParentDir(t *testing.T) {
	const self = "9:name=systemd:/\n4:memory:/pods/a\n2:cpu,cpuacct:/pods/b\n0::/unified/c\n"
	tests := []struct {
		name, controller string
		v2               bool
		want             string
		wantErr          bool
	}{
		{"v1 memory", "memory", false, "/sys/fs/cgroup/memory/pods/a", false},
		{"v1 controllers sharing a hierarchy", "cpu", false, "/sys/fs/cgroup/cpu,cpuacct/pods/b", false},
		{"v2", "memory", true, "/sys/fs/cgroup/unified/c", false},
		{"v1 without the controller", "pids", false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parentDir(self, tt.controller, tt.v2)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("parentDir(%q, v2 %v) = %q, %v; want %q (error %v)", tt.controller, tt.v2, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// This process's own descriptors and CPU time read back sensibly: CPU time grows with work.
func TestOwnProcess(t *testing.T) {
	pid := os.Getpid()
	n, highest, err := OpenFDs(pid)
	if err != nil || n < 3 || highest < n-1 {
		t.Fatalf("OpenFDs = %d, highest %d, %v: want at least stdin, stdout, stderr", n, highest, err)
	}
	before, err := CPUTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
		_ = make([]byte, 1<<10) // work the clock can see
	}
	after, err := CPUTime(pid)
	if err != nil || after <= before {
		t.Fatalf("CPU time %s → %s (%v) over 100 ms of work, want it to grow", before, after, err)
	}
}

// A group made and removed leaves nothing behind (needs root and cgroups).
func TestGroupIsRemoved(t *testing.T) {
	g, err := NewGroup("aiservice-resource-test", "cpu")
	if err != nil {
		t.Skipf("no cgroup here: %v", err)
	}
	dirs := g.Procs()
	if err := g.SetCPU(0.5); err != nil {
		t.Error(err)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, f := range dirs {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s still there after Remove (%v)", f, err)
		}
	}
}
