package main

import "testing"

func TestBusySeconds(t *testing.T) {
	tests := []struct {
		line    string
		want    float64
		wantErr bool
	}{
		// user 100, nice 1, system 50, idle 1000, iowait 20, irq 2, softirq 3, steal 4, guest 7, guest_nice 1
		{line: "cpu  100 1 50 1000 20 2 3 4 7 1\n", want: 1.60},
		{line: "cpu 10 0 5 900 0 0 0 0\n", want: 0.15},
		{line: "cpu0 10 0 5 900 0 0 0 0\n", wantErr: true},
		{line: "cpu 10 0 x 900 0 0 0 0\n", wantErr: true},
		{line: "cpu 10 0\n", wantErr: true},
	}
	for _, tc := range tests {
		got, err := busySeconds(tc.line)
		if (err != nil) != tc.wantErr || (!tc.wantErr && (got < tc.want-1e-9 || got > tc.want+1e-9)) {
			t.Errorf("busySeconds(%q) = %v, %v; want %v (error %v)", tc.line, got, err, tc.want, tc.wantErr)
		}
	}
}
