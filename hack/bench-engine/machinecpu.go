package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// machineCPU reads the CPU time all processes of the machine have used, in
// seconds, from /proc/stat: the generator, the engine and PostgreSQL, which
// share the machine's cores. Idle and I/O wait are not counted.
func machineCPU() (float64, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }() // only read
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("read /proc/stat: %w", err)
	}
	return busySeconds(line)
}

// busySeconds parses the "cpu" line of /proc/stat: user, nice, system,
// idle, iowait, irq, softirq, steal, ... in clock ticks (100 a second).
func busySeconds(line string) (float64, error) {
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy int64
	for i, f := range fields[1:] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: field %d: %w", i+1, err)
		}
		switch i {
		case 3, 4: // idle, iowait
		case 8, 9: // guest time is counted in user time already
		default:
			busy += n
		}
	}
	return float64(busy) / 100, nil
}
