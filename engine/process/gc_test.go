package process

import (
	"testing"
	"testing/fstest"
)

func TestDecideGC(t *testing.T) {
	const gib = int64(1) << 30
	tests := []struct {
		name        string
		env         map[string]string
		cgroupLimit int64
		want        gcTuning
	}{
		{"defaults, no container limit", nil, 0, gcTuning{percent: defaultGCPercent}},
		{"defaults in a 1 GiB container", nil, gib, gcTuning{percent: defaultGCPercent, memoryLimit: gib / 2}},
		{"GOGC chosen", map[string]string{"GOGC": "100"}, gib, gcTuning{memoryLimit: gib / 2}},
		{"GOGC off", map[string]string{"GOGC": "off"}, 0, gcTuning{}},
		{"GOMEMLIMIT chosen", map[string]string{"GOMEMLIMIT": "300MiB"}, gib, gcTuning{percent: defaultGCPercent}},
		{"both chosen", map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}, gib, gcTuning{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decideGC(func(k string) string { return tt.env[k] }, tt.cgroupLimit)
			if got != tt.want {
				t.Errorf("decideGC = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCgroupMemoryLimit(t *testing.T) {
	file := func(data string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(data)} }
	tests := []struct {
		name  string
		files fstest.MapFS
		want  int64
	}{
		{"cgroup v2 limit", fstest.MapFS{"sys/fs/cgroup/memory.max": file("536870912\n")}, 536870912},
		{"cgroup v2 without limit", fstest.MapFS{"sys/fs/cgroup/memory.max": file("max\n")}, 0},
		{"cgroup v1 limit", fstest.MapFS{"sys/fs/cgroup/memory/memory.limit_in_bytes": file("268435456\n")}, 268435456},
		{"cgroup v1 without limit", fstest.MapFS{"sys/fs/cgroup/memory/memory.limit_in_bytes": file("9223372036854771712\n")}, 0},
		{"v2 wins over v1", fstest.MapFS{
			"sys/fs/cgroup/memory.max":                   file("1048576"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("2097152"),
		}, 1048576},
		{"garbage", fstest.MapFS{"sys/fs/cgroup/memory.max": file("lots")}, 0},
		{"no cgroup files", fstest.MapFS{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cgroupMemoryLimit(tt.files); got != tt.want {
				t.Errorf("cgroupMemoryLimit = %d, want %d", got, tt.want)
			}
		})
	}
}
