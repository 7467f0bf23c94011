package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// TestGracefulShutdown sends SIGTERM while a batch request is in flight (its
// body half sent): the engine must answer it in full, then exit cleanly.
func TestGracefulShutdown(t *testing.T) {
	e := startEngine(t, buildEngine(t), engineDir(t, testSnapshot))
	client := &http.Client{Timeout: 20 * time.Second}
	if st, body, _ := post(client, e.base, "/v1/members", map[string]any{"idempotencyKey": "enroll", "memberId": "ana"}); st != 201 {
		t.Fatalf("enroll: %d %s", st, body)
	}

	occurredAt := time.Now().UTC().Format(time.RFC3339)
	events := make([]string, 200)
	for i := range events {
		events[i] = fmt.Sprintf(`{"idempotencyKey":"b-%d","memberId":"ana","eventId":"o-%d","amount":"1","occurredAt":%q}`, i, i, occurredAt)
	}
	body := `{"events":[` + strings.Join(events, ",") + `]}`
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", e.base+"/v1/earn/batch", pr)
	req.Header.Set("Authorization", "Bearer "+testIngestKey)
	req.Header.Set("Content-Type", "application/json")
	type answer struct {
		status int
		body   []byte
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answered <- answer{status: resp.StatusCode, body: b, err: err}
	}()
	half := len(body) / 2
	if _, err := io.WriteString(pw, body[:half]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the handler is now reading the body
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // shutdown has begun and waits for the request
	if _, err := io.WriteString(pw, body[half:]); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}

	a := <-answered
	if a.err != nil || a.status != 200 {
		t.Fatalf("in-flight batch: %v %d %s\n%s", a.err, a.status, a.body, e.logText())
	}
	var res ledger.EarnBatchResult
	if err := json.Unmarshal(a.body, &res); err != nil || res.Succeeded != len(events) {
		t.Fatalf("in-flight batch result: %v %s", err, a.body)
	}
	select {
	case err := <-e.exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("engine did not exit after SIGTERM")
	}
	// The batch was answered after shutdown began, not before the signal landed.
	logs := e.logText()
	down, batch := strings.Index(logs, "shutting down: finishing in-flight requests"), strings.Index(logs, `"route":"POST /v1/earn/batch"`)
	if down < 0 || batch < down {
		t.Errorf("want the shutdown logged before the batch's answer; log:\n%s", logs)
	}
}
