package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/store/storetest"
)

// BenchmarkStorageFloor is what the fewest rows of an earn cost in this
// driver with the engine's settings (WAL, synchronous=NORMAL, 64 MiB page
// cache, checkpoints every second on another connection); make bench-floor.
func BenchmarkStorageFloor(b *testing.B) {
	storetest.BenchFloor(b, func(tb testing.TB) storetest.FloorDB {
		dsn := "file:" + filepath.Join(tb.TempDir(), "floor.db") + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=mmap_size(0)"
		db := openFloorDB(tb, dsn+"&_pragma=cache_size(-65536)&_pragma=wal_autocheckpoint(0)&_txlock=immediate")
		ckpt := openFloorDB(tb, dsn)
		return storetest.FloorDB{
			DB:    db,
			Param: func(i int) string { return "?" + strconv.Itoa(i) },
			Checkpoint: func(ctx context.Context) {
				_, _ = ckpt.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
			},
		}
	})
}

func openFloorDB(tb testing.TB, dsn string) *sql.DB {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return db
}
