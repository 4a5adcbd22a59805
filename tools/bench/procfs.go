package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// cpuSeconds is a process's user + system CPU time from /proc/PID/stat; 0 if unreadable.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15, in USER_HZ ticks) after the command
// name, which may itself hold spaces and parentheses.
func parseStatCPU(stat string) float64 {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 || i+2 > len(stat) {
		return 0
	}
	f := strings.Fields(stat[i+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// memory is a process's resident set now (VmRSS) and its peak since start (VmHWM), in MiB.
type memory struct{ rss, hwm float64 }

func memoryMiB(pid int) memory {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}
	}
	return parseStatusMemory(string(b))
}

func parseStatusMemory(status string) memory {
	var m memory
	for _, l := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			m.rss = kb / 1024
		case "VmHWM":
			m.hwm = kb / 1024
		}
	}
	return m
}

// raiseNoFile lifts this process's soft RLIMIT_NOFILE to its hard limit, so it can hold need
// sockets; the processes it starts inherit it. It fails when even the hard limit is too low:
// the caller must then refuse to report held-stream figures, since refused connections would
// read as the path's fault.
func raiseNoFile(need uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, fmt.Errorf("setrlimit %d: %w", l.Max, err)
		}
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, fmt.Errorf("getrlimit: %w", err)
		}
	}
	if l.Cur < need {
		return l.Cur, fmt.Errorf("RLIMIT_NOFILE is %d (hard %d), %d file descriptors are needed", l.Cur, l.Max, need)
	}
	return l.Cur, nil
}
