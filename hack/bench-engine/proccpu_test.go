package main

import (
	"os"
	"testing"
	"time"
)

func TestStatCPU(t *testing.T) {
	tests := []struct {
		name, line string
		want       time.Duration
		wantErr    bool
	}{
		{name: "plain", line: "4242 (points-engine) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 100 0 0\n", want: 3250 * time.Millisecond},
		{name: "command with spaces and parentheses", line: "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 0 0", want: 70 * time.Millisecond},
		{name: "no command name", line: "7 a R 1 7", wantErr: true},
		{name: "too short", line: "7 (a) R 1 7 7", wantErr: true},
		{name: "not a number", line: "7 (a) R 1 7 7 0 -1 0 0 0 0 0 x 4 0 0", wantErr: true},
	}
	for _, tc := range tests {
		got, err := statCPU(tc.line)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: statCPU = %v, %v; want %v (error %v)", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

// The process's own entry parses, and its CPU time does not go backwards.
func TestProcessCPUOfSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(50 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ {
		_ = n * n // burn CPU for a few ticks
	}
	after, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after < before {
		t.Fatalf("CPU time went from %v back to %v", before, after)
	}
}
