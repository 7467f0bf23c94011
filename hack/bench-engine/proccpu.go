package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// every Linux the project runs on).
const clockTicks = 100

// processCPU reads the user plus system CPU time a process has used so far
// from /proc/<pid>/stat: the engine's own cost, without the generator's
// or PostgreSQL's.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return statCPU(string(data))
}

// statCPU parses a /proc/<pid>/stat line: after the command name in
// parentheses (which may hold spaces and parentheses itself), field 3 is the
// state, and fields 14 and 15 are utime and stime in clock ticks.
func statCPU(line string) (time.Duration, error) {
	end := strings.LastIndexByte(line, ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc/<pid>/stat: no command name in %q", line)
	}
	fields := strings.Fields(line[end+1:]) // fields[0] is field 3, the state
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/<pid>/stat: %d fields after the command name, want at least 13", len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] { // fields 14 and 15
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/<pid>/stat: CPU time %q: %w", f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
