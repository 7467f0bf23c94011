package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
	"github.com/loyaltyops/loyalty-operator/engine/store/storetest"
)

const (
	crashChildEnv = "LEDGER_CRASH_CHILD_DB"
	// crashWALLimitEnv is the child's WAL limit in bytes (default when
	// empty): a small one has the log truncated many times while the
	// child is killed.
	crashWALLimitEnv = "LEDGER_CRASH_CHILD_WAL_LIMIT"
)

// TestCrashChild is the writer process of TestKillDuringWrites: it earns
// points from several goroutines until killed, printing each acknowledged
// event id.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("only runs as the child of TestKillDuringWrites")
	}
	ctx := context.Background()
	limit, _ := strconv.ParseInt(os.Getenv(crashWALLimitEnv), 10, 64)
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path, WALLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "enroll", MemberID: "m1"}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				ev := fmt.Sprintf("w%d-%d", w, i)
				if _, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: ev, MemberID: "m1", EventID: ev, Points: 1}); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 1 {
					if _, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: "r-" + ev, MemberID: "m1", Points: 1}); err != nil {
						t.Error(err)
						return
					}
				}
				mu.Lock()
				fmt.Fprintln(out, "ack", ev)
				err := out.Flush() // an ack the parent never reads would not count
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestKillDuringWrites kills a writing process with SIGKILL and checks that
// every acknowledged write survived and the books balance, also with a WAL
// limit so small that checkpoints truncate the log while it is killed.
func TestKillDuringWrites(t *testing.T) {
	for _, tc := range []struct{ name, walLimit string }{{"default WAL limit", ""}, {"64 KiB WAL limit", "65536"}} {
		t.Run(tc.name, func(t *testing.T) { killDuringWrites(t, tc.walLimit) })
	}
}

func killDuringWrites(t *testing.T, walLimit string) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashWALLimitEnv+"="+walLimit)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	lines := bufio.NewScanner(stdout)
	for len(acked) < 400 && lines.Scan() {
		if ev, ok := strings.CutPrefix(lines.Text(), "ack "); ok {
			acked = append(acked, ev)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() //nolint:errcheck // killed on purpose
	if len(acked) < 400 {
		t.Fatalf("child acknowledged only %d writes before stopping", len(acked))
	}

	s := open(t, path)
	storetest.CheckInvariants(t, s)
	recorded := map[string]bool{}
	q := ledger.HistoryQuery{MemberID: "m1", Limit: ledger.MaxHistoryLimit}
	for {
		page, err := s.History(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			if e.Kind == ledger.EntryEarn {
				recorded[e.EventID] = true
			}
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	for _, ev := range acked {
		if !recorded[ev] {
			t.Fatalf("acknowledged earn %s lost after kill (%d recorded)", ev, len(recorded))
		}
	}
}

// Data written before Close is there after reopening.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "k1", MemberID: "m1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "k2", MemberID: "m1", EventID: "o1", Points: 9}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: "k3", MemberID: "m1", Points: 1}); err == nil {
		t.Fatal("a closed store accepted a write")
	}
	s2 := open(t, path) // migrations are not re-applied
	v, err := s2.Member(ctx, "m1", time.Now())
	if err != nil || v.Available != 9 {
		t.Fatalf("after reopen: %+v %v", v, err)
	}
	if res, err := s2.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "k2", MemberID: "m1", EventID: "o1", Points: 9}); err != nil || !res.Replayed {
		t.Fatalf("idempotency keys must survive a restart: %+v %v", res, err)
	}
}
