package resource

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/sys/unix"
)

// Contention starves processes of CPU without a cgroup: they are pinned to one core together
// with busy processes that never sleep, so they get a share of that core the scheduler gives
// them against the spinners (about 1/(spinners+1) when they are busy themselves).
type Contention struct {
	pids     []int
	old      []unix.CPUSet
	spinners []*exec.Cmd
}

// Contend pins pids to one core next to spinners busy processes; Lift undoes it. On an error
// what was done so far is undone.
func Contend(spinners int, pids ...int) (c *Contention, err error) {
	var core unix.CPUSet
	core.Set(0)
	c = &Contention{pids: pids}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Lift())
		}
	}()
	for _, pid := range pids {
		var old unix.CPUSet
		if err := unix.SchedGetaffinity(pid, &old); err != nil {
			return nil, fmt.Errorf("affinity of %d: %w", pid, err)
		}
		c.old = append(c.old, old)
		if err := pinAll(pid, &core); err != nil {
			return nil, err
		}
	}
	for range spinners {
		cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start a busy process: %w", err)
		}
		c.spinners = append(c.spinners, cmd)
		if err := unix.SchedSetaffinity(cmd.Process.Pid, &core); err != nil {
			return nil, fmt.Errorf("pin busy process %d: %w", cmd.Process.Pid, err)
		}
	}
	return c, nil
}

// Lift stops the busy processes and gives the pinned processes their cores back.
func (c *Contention) Lift() error {
	for _, cmd := range c.spinners {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	c.spinners = nil
	var errs []error
	for i, pid := range c.pids[:len(c.old)] {
		if err := pinAll(pid, &c.old[i]); err != nil {
			errs = append(errs, err)
		}
	}
	c.pids, c.old = nil, nil
	return errors.Join(errs...)
}

// pinAll sets the affinity of every thread of a process: sched_setaffinity(2) on a pid sets
// only that one thread, and a Go program runs on several.
func pinAll(pid int, set *unix.CPUSet) error {
	tids, err := threads(pid)
	if err != nil {
		return err
	}
	for _, tid := range tids {
		if err := unix.SchedSetaffinity(tid, set); err != nil {
			return fmt.Errorf("pin thread %d of %d: %w", tid, pid, err)
		}
	}
	return nil
}

// threads lists the thread ids of a process.
func threads(pid int) ([]int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, fmt.Errorf("threads of %d: %w", pid, err)
	}
	out := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out, nil
}
