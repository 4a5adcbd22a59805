package resource

import (
	"errors"
	"fmt"
	"io"
	"net"
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

// Exhaustion is a process kept out of file descriptors by a low limit and held connections.
type Exhaustion struct {
	Limit int // the RLIMIT_NOFILE set
	Was   uint64
	pid   int
	old   unix.Rlimit
	held  []net.Conn
}

// ExhaustFDs lowers pid's RLIMIT_NOFILE to spare above its highest open descriptor (the limit
// is on descriptor numbers, so every free number below the highest one counts too) and takes
// what is left with connections to addr, the process's own listener: each one it accepts
// holds a descriptor. It returns once the process has none left, or fails after limit.
// Release gives everything back.
func ExhaustFDs(pid int, addr string, spare int, limit time.Duration) (*Exhaustion, error) {
	_, highest, err := OpenFDs(pid)
	if err != nil {
		return nil, err
	}
	x := &Exhaustion{Limit: highest + 1 + spare, pid: pid}
	if x.old, err = SetNoFile(pid, uint64(x.Limit)); err != nil {
		return nil, err
	}
	x.Was = x.old.Cur
	// Each connection sends a health check: one the service accepts is answered and kept
	// alive, holding its descriptor; one dialled beyond the limit waits in the backlog with its
	// request already there, so a refusal of it (see pressure.FDGuard) is immediate and does
	// not hold up the connections behind it. The count moves (a scrape reads a file, a pooled
	// connection closes), so this dials until it stays at the limit.
	for end := time.Now().Add(limit); ; time.Sleep(20 * time.Millisecond) {
		n, _, err := OpenFDs(pid)
		if err != nil {
			return nil, errors.Join(err, x.Release())
		}
		if n >= x.Limit {
			return x, nil
		}
		if time.Now().After(end) {
			return nil, errors.Join(fmt.Errorf("only %d of %d descriptors taken after %s", n, x.Limit, limit), x.Release())
		}
		for range x.Limit - n {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: aiservice\r\n\r\n")
			}
			if err != nil {
				return nil, errors.Join(err, x.Release())
			}
			x.held = append(x.held, c)
		}
	}
}

// Held is how many connections hold descriptors.
func (x *Exhaustion) Held() int { return len(x.held) }

// Release closes the held connections and restores the limit (unless the process is gone).
func (x *Exhaustion) Release() error {
	for _, c := range x.held {
		_ = c.Close()
	}
	x.held = nil
	if err := RestoreNoFile(x.pid, x.old); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	return nil
}
