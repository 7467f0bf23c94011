// Package process holds the points engine's set-up of its own process:
// the garbage collector's tuning and the Go profiles' listener.
package process

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
)

// The engine's live Go heap is small, a few MiB: SQLite's page cache is
// allocated outside it. With Go's default GOGC of 100 the collector then
// runs every few milliseconds under load, and each cycle also stalls the
// store's single writer. A percent of 400 makes cycles about four times
// rarer for a few more MiB of heap; the memory limit keeps a heap that
// grows with the member caches from taking the process past its container's
// limit (the collector works harder near it instead).
const (
	defaultGCPercent = 400
	// memoryLimitShare of the cgroup's limit is the Go runtime's; the rest
	// is for SQLite's page caches (up to 128 MiB, outside the Go heap) and
	// the rest of the process.
	memoryLimitShare = 0.5
)

// gcTuning is what TuneGC sets; zero fields leave Go's setting alone.
type gcTuning struct {
	percent     int
	memoryLimit int64 // bytes
}

// decideGC applies the engine's defaults where the operator of the process
// did not choose: GOGC and GOMEMLIMIT, when set, are Go's own and win.
// cgroupLimit is the container's memory limit in bytes, 0 if none.
func decideGC(getenv func(string) string, cgroupLimit int64) gcTuning {
	var t gcTuning
	if getenv("GOGC") == "" {
		t.percent = defaultGCPercent
	}
	if getenv("GOMEMLIMIT") == "" && cgroupLimit > 0 {
		t.memoryLimit = int64(float64(cgroupLimit) * memoryLimitShare)
	}
	return t
}

// unlimitedCgroup is where cgroup v1 reports "no limit" (the largest
// page-aligned int64); anything this large is no limit.
const unlimitedCgroup = int64(1) << 62

// cgroupMemoryLimit reads the memory limit of the process's cgroup from a
// root file system: cgroup v2's memory.max, else cgroup v1's
// memory.limit_in_bytes. It returns 0 when there is none or it cannot be
// read.
func cgroupMemoryLimit(root fs.FS) int64 {
	for _, name := range []string{"sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		data, err := fs.ReadFile(root, name)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(string(bytes.TrimSpace(data)), 10, 64)
		if err != nil || v <= 0 || v >= unlimitedCgroup {
			return 0 // "max" (v2) or the v1 stand-in for unlimited
		}
		return v
	}
	return 0
}

// TuneGC sets the collector's percent and memory limit (see decideGC).
func TuneGC(log *slog.Logger) {
	t := decideGC(os.Getenv, cgroupMemoryLimit(os.DirFS("/")))
	percent := os.Getenv("GOGC")
	if t.percent != 0 {
		debug.SetGCPercent(t.percent)
		percent = strconv.Itoa(t.percent)
	}
	if t.memoryLimit != 0 {
		debug.SetMemoryLimit(t.memoryLimit)
	}
	// A negative limit reads the current one without changing it.
	log.Info("garbage collector", "gcPercent", percent, "memoryLimitBytes", debug.SetMemoryLimit(-1))
}
