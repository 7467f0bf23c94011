package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHolderKeepsLastGood(t *testing.T) {
	h := NewHolder(nil)
	if h.Current() != nil || h.Status().Hash != "" {
		t.Fatal("new holder is not empty")
	}
	good := readGood(t)
	if err := h.Apply("test", good); err != nil {
		t.Fatal(err)
	}
	first := h.Current()
	hash := h.Status().Hash
	if first == nil || hash != first.Hash() {
		t.Fatalf("status hash %q does not match the current snapshot", hash)
	}

	bad := []byte(strings.Replace(string(good), `"Europe/Berlin"`, `"Mars/Base"`, 1))
	if err := h.Apply("test", bad); err == nil {
		t.Fatal("invalid snapshot applied")
	}
	st := h.Status()
	if h.Current() != first || st.Hash != hash {
		t.Error("invalid snapshot replaced the last good one")
	}
	want := `test: invalid snapshot: campaigns[happy-hour].schedule.timeZone: unknown IANA time zone "Mars/Base"`
	if st.LastError != want || st.LastErrorAt.IsZero() {
		t.Errorf("LastError = %q at %v, want %q", st.LastError, st.LastErrorAt, want)
	}

	// Re-applying the good snapshot clears the error but keeps the same pointer.
	if err := h.Apply("test", good); err != nil {
		t.Fatal(err)
	}
	if st := h.Status(); st.LastError != "" || h.Current() != first {
		t.Errorf("after re-apply: error %q, pointer changed %v", st.LastError, h.Current() != first)
	}
}

func TestHolderChanged(t *testing.T) {
	h := NewHolder(nil)
	good := readGood(t)
	ch := h.Changed()
	if err := h.Apply("test", good); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed by the first snapshot")
	}
	ch = h.Changed()
	_ = h.Apply("test", good)
	_ = h.Apply("test", []byte("{}"))
	select {
	case <-ch:
		t.Fatal("Changed closed without a new snapshot")
	default:
	}
	if err := h.Apply("test", []byte(strings.Replace(string(good), `"earnRate": "2.5"`, `"earnRate": "3"`, 1))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed by a new snapshot")
	}
}

func TestWatchFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snapshot.json")
	good := readGood(t)
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h := NewHolder(nil)
	if err := WatchFile(ctx, h, path, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	first := h.Status().Hash
	if first == "" {
		t.Fatal("first load not applied")
	}

	changed := []byte(strings.Replace(string(good), `"earnRate": "2.5"`, `"earnRate": "3"`, 1))
	writeAtomically(t, path, changed)
	waitFor(t, func() bool { return h.Status().Hash != first })
	if got := h.Current().Points.EarnRate.String(); got != "3" {
		t.Errorf("earn rate after reload = %s, want 3", got)
	}
	second := h.Status().Hash

	writeAtomically(t, path, []byte(`{"version": "v0"}`))
	waitFor(t, func() bool { return h.Status().LastError != "" })
	if h.Status().Hash != second || h.Current().Points.EarnRate.String() != "3" {
		t.Error("invalid file replaced the configuration")
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(h.Status().LastError, "read configuration") })
	writeAtomically(t, path, changed)
	waitFor(t, func() bool { return h.Status().LastError == "" })
	if h.Status().Hash != second {
		t.Error("restored file did not re-apply")
	}
}

func TestWatchFileFirstLoadFails(t *testing.T) {
	h := NewHolder(nil)
	err := WatchFile(t.Context(), h, filepath.Join(t.TempDir(), "missing.json"), time.Second)
	if err == nil || !strings.Contains(err.Error(), "read configuration") {
		t.Errorf("error = %v, want a read error", err)
	}
}

func writeAtomically(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
