// Package resource confines real processes for the chaos suite: a cgroup capping their CPU or
// memory (cgroup v1, as on the project's machines, or v2), a low open-file limit, and CPU
// contention where no cgroup can be made. It needs root for cgroups; every group it creates is
// removed when the test ends, also when the test fails.
package resource

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Root is where cgroup file systems are mounted.
const Root = "/sys/fs/cgroup"

// cfsPeriod is the CPU accounting period the quota is a share of, in microseconds.
const cfsPeriod = 100000

// Group is a cgroup made for a test, with one directory per v1 controller or one v2 directory.
type Group struct {
	v2   bool
	dirs map[string]string // controller → directory; on v2 every controller maps to the same one
}

// NewGroup creates a child cgroup called name (made unique) for the controllers ("cpu",
// "memory") below this test process's own cgroups; Remove deletes it. The error says why no
// group could be made (not root, no such controller, read-only file system), so the test can
// report it and fall back.
func NewGroup(name string, controllers ...string) (*Group, error) {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	name = fmt.Sprintf("%s-%d-%d", name, os.Getpid(), time.Now().UnixNano())
	g := &Group{dirs: map[string]string{}}
	if _, err := os.Stat(filepath.Join(Root, "cgroup.controllers")); err == nil {
		g.v2 = true
	}
	for _, c := range controllers {
		parent, err := parentDir(string(self), c, g.v2)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(parent, name)
		if g.v2 {
			// A v2 child gets a controller only if its parent delegates it.
			if err := write(filepath.Join(parent, "cgroup.subtree_control"), "+"+c); err != nil {
				return nil, fmt.Errorf("cgroup v2: enable %s below %s: %w", c, parent, err)
			}
		}
		if !g.has(dir) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				return nil, errors.Join(fmt.Errorf("create cgroup %s: %w", dir, err), g.Remove())
			}
		}
		g.dirs[c] = dir
	}
	return g, nil
}

// NewTestGroup is NewGroup for a test: the group is removed when the test ends, also when it
// fails.
func NewTestGroup(t testing.TB, name string, controllers ...string) (*Group, error) {
	g, err := NewGroup(name, controllers...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if err := g.Remove(); err != nil {
			t.Error(err)
		}
	})
	return g, nil
}

// parentDir is the directory of this process's own cgroup for controller c.
func parentDir(self, c string, v2 bool) (string, error) {
	for _, line := range strings.Split(self, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if v2 && parts[0] == "0" && parts[1] == "" {
			return filepath.Join(Root, parts[2]), nil
		}
		for _, have := range strings.Split(parts[1], ",") {
			if !v2 && have == c {
				return filepath.Join(Root, parts[1], parts[2]), nil
			}
		}
	}
	return "", fmt.Errorf("cgroups: no %s controller for this process in /proc/self/cgroup", c)
}

// has reports whether dir is already one of the group's directories (v2 shares one).
func (g *Group) has(dir string) bool {
	for _, d := range g.dirs {
		if d == dir {
			return true
		}
	}
	return false
}

// Procs are the cgroup.procs files a process joins to enter the group (launch.Options.Cgroups).
func (g *Group) Procs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range g.dirs {
		if !seen[d] {
			seen[d] = true
			out = append(out, filepath.Join(d, "cgroup.procs"))
		}
	}
	return out
}

// Add moves a running process (all its threads) into the group.
func (g *Group) Add(pid int) error {
	for _, f := range g.Procs() {
		if err := write(f, strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("move %d into the cgroup: %w", pid, err)
		}
	}
	return nil
}

// SetCPU caps the group to cores CPUs' worth of time per period (0.2: a fifth of one core);
// cores <= 0 lifts the cap.
func (g *Group) SetCPU(cores float64) error {
	dir, err := g.dir("cpu")
	if err != nil {
		return err
	}
	quota := int64(cores * cfsPeriod)
	if g.v2 {
		v := "max"
		if cores > 0 {
			v = strconv.FormatInt(quota, 10)
		}
		return write(filepath.Join(dir, "cpu.max"), fmt.Sprintf("%s %d", v, cfsPeriod))
	}
	if cores <= 0 {
		quota = -1
	}
	if err := write(filepath.Join(dir, "cpu.cfs_period_us"), strconv.Itoa(cfsPeriod)); err != nil {
		return err
	}
	return write(filepath.Join(dir, "cpu.cfs_quota_us"), strconv.FormatInt(quota, 10))
}

// Throttled is how many accounting periods the group hit its CPU cap in (cpu.stat nr_throttled).
func (g *Group) Throttled() (int64, error) {
	return g.stat("cpu", "cpu.stat", "nr_throttled")
}

// SetMemory sets the group's hard memory limit in bytes; the kernel reclaims, then kills a
// process of the group, when it is crossed.
func (g *Group) SetMemory(bytes int64) error {
	dir, err := g.dir("memory")
	if err != nil {
		return err
	}
	if g.v2 {
		return write(filepath.Join(dir, "memory.max"), strconv.FormatInt(bytes, 10))
	}
	return write(filepath.Join(dir, "memory.limit_in_bytes"), strconv.FormatInt(bytes, 10))
}

// OOMKills is how many processes of the group the kernel killed for crossing the memory limit.
func (g *Group) OOMKills() (int64, error) {
	if g.v2 {
		return g.stat("memory", "memory.events", "oom_kill")
	}
	return g.stat("memory", "memory.oom_control", "oom_kill")
}

// PeakMemory is the most memory the group used, in bytes.
func (g *Group) PeakMemory() (int64, error) {
	dir, err := g.dir("memory")
	if err != nil {
		return 0, err
	}
	f := "memory.max_usage_in_bytes"
	if g.v2 {
		f = "memory.peak"
	}
	b, err := os.ReadFile(filepath.Join(dir, f))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func (g *Group) dir(c string) (string, error) {
	d, ok := g.dirs[c]
	if !ok {
		return "", fmt.Errorf("the cgroup was made without the %s controller", c)
	}
	return d, nil
}

// stat reads the number after key in a "key value" per line file.
func (g *Group) stat(c, file, key string) (int64, error) {
	dir, err := g.dir(c)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no %s", filepath.Join(dir, file), key)
}

// Remove moves whatever still runs in the group to the parent and deletes the directories.
// A process that just exited can keep a cgroup busy for a moment, so rmdir is retried.
func (g *Group) Remove() error {
	var errs []error
	for c, dir := range g.dirs {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err == nil {
			for _, pid := range strings.Fields(string(b)) {
				_ = write(filepath.Join(filepath.Dir(dir), "cgroup.procs"), pid)
			}
		}
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if err = os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove %s cgroup %s: %w", c, dir, err))
		}
	}
	return errors.Join(errs...)
}

func write(path, value string) error {
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}
