package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEngineRaisesGCPercent starts the engine binary without GOGC and finds
// the percent it chose in its log.
func TestEngineRaisesGCPercent(t *testing.T) {
	t.Setenv("GOGC", "") // empty is unset, for Go and for the engine's GC tuning
	e := startEngine(t, buildEngine(t), engineDir(t, testSnapshot))
	for line := range strings.Lines(e.logText()) {
		var rec struct{ Msg, GCPercent string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "garbage collector" {
			if rec.GCPercent != "400" {
				t.Fatalf("gcPercent = %q, want 400: %s", rec.GCPercent, line)
			}
			return
		}
	}
	t.Fatalf("no garbage collector record in the log:\n%s", e.logText())
}
