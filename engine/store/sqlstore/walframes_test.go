package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Every page a commit changes is one frame of the SQLite write-ahead log,
// written with two system calls (its header and the page) and copied into
// the database file again by the next checkpoint: what a write costs the
// disk is nearly its frames. These are the frames of a redemption, as the
// RedeemHot scenario makes them (funded members, 1 point from a
// zipf-chosen member), and of an earn of a batch as EarnBatch100 makes
// them, counted from the log file itself, so the figures do not depend on
// the machine or its load.
const (
	framesMembers = 10000
	// framesGroup is the redemptions of the group commit measured, about
	// what the writer gathers under RedeemHot's 64 callers.
	framesGroup = 64
	// framesLone is the redemptions committed one at a time.
	framesLone = 32
	// framesEarnBatch is the earns of the batch measured, as EarnBatch100.
	framesEarnBatch = 100
)

// Budgets of frames per operation. Before migration 14 a redemption wrote
// 1.64 in the group commit and 9.31 alone: each take from a lot rewrote
// its entry in the two indexes of live lots; now 1.12 and 7.31. An earn
// of the batch writes 2.68, before and after.
const (
	maxGroupFrames = 1.2
	maxLoneFrames  = 7.5
	maxEarnFrames  = 2.8
)

func TestRedeemWALFrames(t *testing.T) {
	if testing.Short() {
		t.Skip("enrolls and funds 10,000 members")
	}
	ctx := context.Background()
	s, db, path := openFramesStore(t)
	now := s.cfg.Now
	fundMembers(t, s, framesMembers)

	z := rand.NewZipf(rand.New(rand.NewPCG(1, 42)), 1.1, 1, framesMembers-1)
	redeem := func(i int) *job {
		j, err := s.redeemJob(ledger.RedeemRequest{IdempotencyKey: fmt.Sprint("r", i), MemberID: fmt.Sprint("m", z.Uint64()), Points: 1})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	commit := func(batch []*job) {
		s.writers[0].commit(batch)
		for _, j := range batch {
			if r := <-j.done; r.err != nil {
				t.Fatalf("redeem: %v", r.err)
			}
		}
	}

	restartWAL(t, db, path)
	group := make([]*job, framesGroup)
	for i := range group {
		group[i] = redeem(i)
	}
	commit(group)
	frames := walFrames(t, db, path)
	perGroup := float64(frames.total) / framesGroup
	t.Logf("group commit of %d redemptions: %.2f frames each (%s)", framesGroup, perGroup, frames)

	restartWAL(t, db, path)
	for i := range framesLone {
		commit([]*job{redeem(framesGroup + i)})
	}
	frames = walFrames(t, db, path)
	perLone := float64(frames.total) / framesLone
	t.Logf("redemptions committed alone: %.2f frames each (%s)", perLone, frames)

	// A batch earn takes from no lot: its frames are what the schema
	// change must not have added to.
	restartWAL(t, db, path)
	events := make([]ledger.EarnRequest, framesEarnBatch)
	for j := range events {
		ev := fmt.Sprint("b", j)
		events[j] = ledger.EarnRequest{IdempotencyKey: ev, MemberID: fmt.Sprint("m", j*37%framesMembers), EventID: ev, Points: 5, ExpiresAt: now().AddDate(0, 0, j%400+1)}
	}
	if res, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: events}); err != nil || res.Failed != 0 {
		t.Fatalf("earn batch: %d failed, %v", res.Failed, err)
	}
	frames = walFrames(t, db, path)
	perEarn := float64(frames.total) / framesEarnBatch
	t.Logf("batch of %d earns: %.2f frames each (%s)", framesEarnBatch, perEarn, frames)

	if perGroup > maxGroupFrames || perLone > maxLoneFrames || perEarn > maxEarnFrames {
		t.Errorf("a redemption writes %.2f frames in a group commit and %.2f alone, an earn of a batch %.2f; want at most %.1f, %.1f and %.1f",
			perGroup, perLone, perEarn, maxGroupFrames, maxLoneFrames, maxEarnFrames)
	}
	if err := s.CheckInvariants(ctx); err != nil {
		t.Fatal(err)
	}
}

// openFramesStore opens a store on a fresh SQLite file whose log only a
// test checkpoints.
func openFramesStore(t *testing.T) (*Store, *sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)"+
		"&_pragma=foreign_keys(1)&_pragma=wal_autocheckpoint(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, err := New(context.Background(), Config{
		Dialect: &Dialect{Name: "sqlite", Migrations: os.DirFS("../sqlite/migrations"), CacheStatements: true},
		WriteDB: db, ReadDB: db, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, db, path
}

// fundMembers enrolls m0..m(n-1), one at a time, and gives each a lot of
// 2^30 points, a hundred members a batch, as RedeemHot does.
func fundMembers(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		id := fmt.Sprint("m", i)
		if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "enroll-" + id, MemberID: id}); err != nil {
			t.Fatal(err)
		}
	}
	for from := 0; from < n; from += ledger.MaxBatchEvents {
		fund := make([]ledger.EarnRequest, min(ledger.MaxBatchEvents, n-from))
		for j := range fund {
			fund[j] = ledger.EarnRequest{IdempotencyKey: fmt.Sprint("fund", from+j), MemberID: fmt.Sprint("m", from+j), EventID: "fund", Points: 1 << 30}
		}
		if res, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: fund}); err != nil || res.Failed != 0 {
			t.Fatalf("fund: %d failed, %v", res.Failed, err)
		}
	}
}

// restartWAL copies the log into the database file and empties it.
func restartWAL(t *testing.T, db *sql.DB, path string) {
	t.Helper()
	var busy, logged, copied int
	if err := db.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &copied); err != nil || busy != 0 {
		t.Fatalf("checkpoint: busy %d, %v", busy, err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Fatalf("log not emptied: %v", err)
	}
}

// frameCount is the frames of the log, by the B-tree whose page each holds.
type frameCount struct {
	total  int
	byTree map[string]int
}

func (f frameCount) String() string {
	names := slices.SortedFunc(maps.Keys(f.byTree), func(a, b string) int { return f.byTree[b] - f.byTree[a] })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, f.byTree[n])
	}
	return strings.Join(parts, ", ")
}

// walFrames reads the page number of every frame in the log (a 32-byte
// header, then frames of a 24-byte header and a page) and names the B-tree
// of each page from dbstat.
func walFrames(t *testing.T, db *sql.DB, path string) frameCount {
	t.Helper()
	log, err := os.ReadFile(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if len(log) < 32 {
		t.Fatalf("log of %d bytes", len(log))
	}
	pageSize := int(binary.BigEndian.Uint32(log[8:12]))
	trees := map[uint32]string{}
	rows, err := db.Query(`SELECT name, pageno FROM dbstat`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var page uint32
		if err := rows.Scan(&name, &page); err != nil {
			t.Fatal(err)
		}
		trees[page] = name
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	f := frameCount{byTree: map[string]int{}}
	for off := 32; off+24+pageSize <= len(log); off += 24 + pageSize {
		page := binary.BigEndian.Uint32(log[off : off+4])
		name, ok := trees[page]
		if !ok {
			name = fmt.Sprintf("page %d", page)
			if page != 1 {
				name = "other"
			}
		}
		f.total++
		f.byTree[name]++
	}
	return f
}
