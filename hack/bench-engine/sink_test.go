package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// The snapshot with a sink is one the engine accepts, with the sink in it.
func TestWithSinkIsValid(t *testing.T) {
	snap, err := snapshotJSON(3, 2, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, err := withSink(snap, t.TempDir(), "http://127.0.0.1:1/events")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(out)
	if err != nil {
		t.Fatalf("snapshot with a sink: %v", err)
	}
	if cfg.Events == nil || len(cfg.Events.Webhooks) != 1 || cfg.Events.Webhooks[0].URL != "http://127.0.0.1:1/events" {
		t.Fatalf("events section: %+v", cfg.Events)
	}
}

func TestSinkReceiver(t *testing.T) {
	for mode, want := range map[string]int{"slow": http.StatusNoContent, "failing": http.StatusInternalServerError} {
		r, err := startSinkReceiver(mode)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		resp, err := http.Post(r.url, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		took := time.Since(start)
		r.close()
		if resp.StatusCode != want || r.requests.Load() != 1 {
			t.Errorf("%s: status %d after %d requests, want %d", mode, resp.StatusCode, r.requests.Load(), want)
		}
		if mode == "slow" && took < sinkDelay {
			t.Errorf("slow receiver answered in %s", took)
		}
	}
	if _, err := startSinkReceiver("flaky"); err == nil {
		t.Error("an unknown mode was accepted")
	}
}
