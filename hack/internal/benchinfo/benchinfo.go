// Package benchinfo describes the machine a benchmark ran on and words its
// verdicts, the same way for every benchmark of the project.
package benchinfo

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Machine describes where the numbers come from.
func Machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s %s/%s", runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// LoadAverage is the 1, 5 and 15 minute load average: the machine is shared.
func LoadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}

// MetOrMissed words a goal's verdict.
func MetOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
