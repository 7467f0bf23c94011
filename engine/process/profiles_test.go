package process

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The profiles are served on their own listener, which closes with ctx.
func TestServeProfiles(t *testing.T) {
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ServeProfiles(ctx, "127.0.0.1:0", slog.New(slog.NewJSONHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	var rec struct{ Msg, Addr string }
	if err := json.Unmarshal(logs.Bytes(), &rec); err != nil || rec.Msg != "serving profiles" {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	resp, err := http.Get("http://" + rec.Addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("GET cmdline: %d %q %v", resp.StatusCode, body, err)
	}

	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + rec.Addr + "/debug/pprof/cmdline")
		if err != nil {
			return // closed
		}
		_ = resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("the profiles are still served after ctx ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeProfilesBadAddress(t *testing.T) {
	err := ServeProfiles(context.Background(), "256.0.0.1:0", slog.New(slog.DiscardHandler))
	if err == nil || !strings.HasPrefix(err.Error(), "--debug-listen 256.0.0.1:0: ") {
		t.Fatalf("error %v, want one naming the flag and the address", err)
	}
}
