package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/hack/internal/freeport"
)

// engineProc is a points-engine process serving on a loopback port.
type engineProc struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	log  string // path of its stderr
	keys map[string]string
	exit chan error
}

// snapshotJSON is a realistic coffee-shop program with a tier ladder of
// tiers rungs and campaigns active campaigns open to every member, so that
// rule evaluation has work to do when they are raised.
func snapshotJSON(tiers, campaigns int, now time.Time) ([]byte, error) {
	names := []string{"bronze", "silver", "gold", "platinum"}
	var tierList []map[string]any
	for rank := range tiers {
		name := fmt.Sprintf("tier-%d", rank)
		if rank < len(names) {
			name = names[rank]
		}
		t := map[string]any{
			"name": name, "displayName": name, "rank": rank,
			"qualification":  map[string]any{"minQualifyingPoints": rank * 1000, "window": "365d"},
			"earnMultiplier": fmt.Sprintf("%.2f", min(1+0.25*float64(rank), 10)),
			"perks":          []string{fmt.Sprintf("perk %d", rank)},
		}
		if rank > 0 {
			t["downgradeGracePeriod"] = "30d"
		}
		tierList = append(tierList, t)
	}
	var campaignList []map[string]any
	for i := range campaigns {
		// Alternate bonus and multiplier; small multipliers so that stacking
		// hundreds of them stays far below the ledger's points limit.
		rules := map[string]any{"purchaseBonus": map[string]any{"points": 5, "minimumSpend": "10"}}
		if i%2 == 1 {
			rules = map[string]any{"pointsMultiplier": "1.01"}
		}
		campaignList = append(campaignList, map[string]any{
			"name": fmt.Sprintf("campaign-%04d", i), "displayName": fmt.Sprintf("Campaign %d", i),
			"schedule": map[string]any{
				"start": now.Add(-24 * time.Hour).UTC().Format(time.RFC3339), "end": now.Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339),
				"timeZone": "UTC",
			},
			"rules": rules, "stacking": "Stack", "priority": i % 1000,
		})
	}
	snap := map[string]any{
		"version": config.Version,
		"program": map[string]any{"name": "bench-club", "namespace": "bench", "displayName": "Bench Club", "currency": "EUR"},
		"points": map[string]any{
			"name": "beans", "earnRate": "2.5", "rounding": "Nearest", "pendingPeriod": "1d",
			"expiry": map[string]any{"afterEarn": "365d"}, "lateEventGracePeriod": "72h",
			"actions": []map[string]any{{"name": "review", "points": 50, "maxPerDay": 1}},
		},
		"tiers": tierList,
		"rewards": []map[string]any{
			{"id": "free-latte", "displayName": "Free latte", "type": "FreeProduct", "cost": 500, "value": "4.2"},
			{"id": "donate", "displayName": "Donate to charity", "type": "Donation", "cost": 100},
		},
		"campaigns": campaignList,
	}
	data, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		return nil, err
	}
	// Fail here, with the validator's words, rather than as an engine that never gets ready.
	if _, err := config.Parse(data); err != nil {
		return nil, fmt.Errorf("generated snapshot is invalid: %w", err)
	}
	return data, nil
}

func randomKey() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startEngine writes the snapshot and key files into dir and starts the
// engine with storeArgs, returning once waitPath (/readyz, or /healthz for
// an engine that may rightly not be ready) answers 200.
func startEngine(ctx context.Context, bin, dir string, snapshot []byte, storeArgs []string, waitPath string) (*engineProc, error) {
	snapPath := filepath.Join(dir, "snapshot.json")
	if err := os.WriteFile(snapPath, snapshot, 0o600); err != nil {
		return nil, err
	}
	keysDir := filepath.Join(dir, "keys")
	if err := os.MkdirAll(keysDir, 0o700); err != nil {
		return nil, err
	}
	keys := map[string]string{}
	for _, scope := range []string{"ingest", "read", "admin"} {
		keys[scope] = randomKey()
		if err := os.WriteFile(filepath.Join(keysDir, scope), []byte(keys[scope]+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	port, err := freeport.Get()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "engine.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600) // a restarted engine's log follows
	if err != nil {
		return nil, err
	}
	defer func() { _ = logFile.Close() }() // never written here: the child keeps its own descriptor
	args := append([]string{
		"--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--config-file", snapPath, "--api-keys-dir", keysDir, "--log-level", "warn",
	}, storeArgs...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Not in our process group: a Ctrl-C reaches the tool, which stops the engine in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Environment variables are flags' defaults; clear those the bench sets by flag.
	cmd.Env = append(os.Environ(), "DATABASE_URL=", "STORE=", "SQLITE_PATH=", "POSTGRES_SCHEMA=")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	e := &engineProc{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), log: logPath, keys: keys, exit: make(chan error, 1)}
	go func() { e.exit <- cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-e.exit:
			return nil, fmt.Errorf("engine exited before it was ready (%v):\n%s", err, tail(logPath))
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), e.stop())
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(e.base + waitPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("engine: %s not 200 after 60s:\n%s", waitPath, tail(logPath)), e.stop())
		}
	}
}

// stop sends SIGTERM, which lets the engine finish in-flight requests and
// close the store, and kills it if that takes over a minute.
func (e *engineProc) stop() error {
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-e.exit:
		if err != nil {
			return fmt.Errorf("engine exited with %v:\n%s", err, tail(e.log))
		}
		return nil
	case <-time.After(time.Minute):
		_ = e.cmd.Process.Kill()
		return fmt.Errorf("engine did not stop within a minute of SIGTERM; killed (%v)", <-e.exit)
	}
}

// tail is the end of a log file, for error messages.
func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(bytes.TrimSpace(data))
}

// dropSchema removes the benchmark's PostgreSQL schema.
func dropSchema(ctx context.Context, url, schema string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}
