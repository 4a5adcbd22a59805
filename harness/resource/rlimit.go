package resource

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SetNoFile lowers a running process's soft RLIMIT_NOFILE with prlimit(2), keeping the hard
// limit so it can be raised again, and returns the limit it had. os/exec cannot set rlimits before exec, and Go programs raise their own soft
// limit at start-up, so a limit set after start is the only one that sticks.
func SetNoFile(pid int, limit uint64) (unix.Rlimit, error) {
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		return old, fmt.Errorf("read RLIMIT_NOFILE of %d: %w", pid, err)
	}
	if err := RestoreNoFile(pid, unix.Rlimit{Cur: limit, Max: old.Max}); err != nil {
		return old, err
	}
	return old, nil
}

// RestoreNoFile sets a running process's RLIMIT_NOFILE back (to what SetNoFile returned).
func RestoreNoFile(pid int, l unix.Rlimit) error {
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &l, nil); err != nil {
		return fmt.Errorf("set RLIMIT_NOFILE of %d to %d/%d: %w", pid, l.Cur, l.Max, err)
	}
	return nil
}

// OpenFDs counts a process's open file descriptors and returns the highest open one. The
// limit applies to descriptor numbers, not to their count: a process at its limit may still
// open files while a number below the limit is free.
func OpenFDs(pid int) (n, highest int, err error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("open fds of %d: %w", pid, err)
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			highest = max(highest, fd)
		}
	}
	return len(ents), highest, nil
}

// userHZ is the unit of the CPU times in /proc/PID/stat: 100 on every Linux architecture Go
// runs on.
const userHZ = 100

// CPUTime is the CPU time a process has used so far (user + system), read from
// /proc/PID/stat, so it can be measured while the process itself cannot open a file.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; the fields after its ")" are fixed.
	i := strings.LastIndexByte(string(b), ')')
	fields := strings.Fields(string(b[i+1:]))
	if i < 0 || len(fields) < 13 {
		return 0, fmt.Errorf("cpu time of %d: unexpected /proc stat %q", pid, b)
	}
	// utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}
