// Package sqlite is the single-node ledger store on SQLite (pure Go driver).
// The file runs in WAL mode; one writer connection applies group commits
// while a separate pool serves reads. Commits return once they are in the
// WAL file (synchronous=NORMAL) and the WAL file is synced beside the
// writer before a commit is answered or a read that saw it returns (see
// walsync.go), so an acknowledged write survives a process kill or power
// loss. A checkpointer beside the writer keeps the WAL under a limit and
// truncates it when writes stop (checkpoint.go); a reserve file keeps room
// on the volume for a checkpoint when it fills (reserve.go, volume.go).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure the store.
type Options struct {
	// Path is the database file; it is created if missing.
	Path string
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
	// MaxBatch caps writes per transaction (default 1024).
	MaxBatch int
	// Now is the clock for recorded times (default time.Now).
	Now func() time.Time
	// OnCommit observes group commits (see sqlstore.Config).
	OnCommit func(ops int, d time.Duration)
	// OnWALSync observes each sync of the WAL file, which every write waits
	// for before it is answered, and OnCheckpoint each checkpoint pass
	// (copying the WAL into the database file and syncing that). A slow or
	// busy volume shows in these first.
	OnWALSync    func(d time.Duration)
	OnCheckpoint func(d time.Duration)
	// WALLimit bounds the write-ahead log file (default DefaultWALLimit):
	// above it writes pause for a checkpoint that truncates the log (see
	// checkpoint.go). It is also the size of the reserve kept on the
	// volume for a checkpoint when the volume fills (see reserve.go).
	WALLimit int64
	// MaxReadAge is the longest a read may hold its snapshot (see
	// sqlstore.Config.MaxReadAge; default sqlstore.DefaultMaxReadAge).
	MaxReadAge time.Duration
	// OnWALSize is told the WAL file's size every time the checkpointer
	// looks at it (every 100 ms); OnHealth every change of the store's
	// write health (ledger.StoreHealth), once per change. Either may be nil.
	OnWALSize func(bytes int64)
	OnHealth  func(ledger.StoreHealth)
}

// Open opens or creates the database, migrates it and starts the writer.
func Open(ctx context.Context, opts Options) (*sqlstore.Store, error) {
	if opts.Path == "" {
		return nil, errors.New("sqlite: path required")
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.MaxBatch <= 0 {
		// Larger commits share more of the index pages they write to the WAL.
		opts.MaxBatch = 1024
	}
	if opts.WALLimit <= 0 {
		opts.WALLimit = DefaultWALLimit
	}
	sub, err := fsSub()
	if err != nil {
		return nil, err
	}
	lock, err := lockDatabase(opts.Path)
	if err != nil {
		return nil, err
	}
	s, err := open(ctx, opts, sub, lock)
	if err != nil {
		return nil, errors.Join(err, lock.Close())
	}
	return s, nil
}

// open is Open once the database file is locked; the store releases lock
// when it closes.
func open(ctx context.Context, opts Options, sub fs.FS, lock *os.File) (*sqlstore.Store, error) {
	base := "file:" + (&url.URL{Path: opts.Path}).EscapedPath()
	// _txlock=immediate takes the write lock at BEGIN, so a batch never has
	// to upgrade a read lock. No connection maps the file (mmap_size 0):
	// the checkpointer grows the file all the time, and a connection that
	// maps it unmaps and maps it again in every transaction after a growth,
	// which cost a quarter of the CPU of a single earn's read.

	// A restart on a full volume: the reserve goes first, so that
	// recovering and checkpointing the log have room.
	res := newReserve(opts.Path, opts.WALLimit)
	if free, err := freeSpace(filepath.Dir(opts.Path)); err == nil && free < opts.WALLimit {
		if err := res.release(); err != nil {
			return nil, err
		}
	}
	// synchronous=NORMAL: a commit returns once it is in the WAL file, and
	// walSyncer syncs that file before the commit is answered or shown.
	// journal_size_limit trims the file to the limit whenever the writer
	// starts the log again after a complete checkpoint.
	writeDB, err := sql.Open("sqlite", base+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"+
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"+
		"&_pragma=cache_size(-65536)&_pragma=temp_store(MEMORY)&_pragma=mmap_size(0)&_pragma=wal_autocheckpoint(0)"+
		"&_pragma=journal_size_limit("+strconv.FormatInt(opts.WALLimit, 10)+")")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", opts.Path, err)
	}
	writeDB.SetMaxOpenConns(1)
	writeDB.SetMaxIdleConns(1)
	writeDB.SetConnMaxLifetime(0)
	writeDB.SetConnMaxIdleTime(0)
	if err := writeDB.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open %s: %w", opts.Path, err), writeDB.Close())
	}
	readDB, err := sql.Open("sqlite", base+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)"+
		"&_pragma=cache_size(-16384)&_pragma=mmap_size(0)")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open %s for reading: %w", opts.Path, err), writeDB.Close())
	}
	readDB.SetMaxOpenConns(opts.ReadConns)
	readDB.SetMaxIdleConns(opts.ReadConns)

	// The busy timeout is how long a truncating checkpoint waits for readers.
	ckptDB, err := sql.Open("sqlite", base+"?_pragma=busy_timeout("+strconv.FormatInt(readerWait.Milliseconds(), 10)+")")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open %s for checkpoints: %w", opts.Path, err), writeDB.Close(), readDB.Close())
	}
	ckptDB.SetMaxOpenConns(1)
	wal := newWALSyncer(opts.Path, opts.OnWALSync)
	vol := &volume{health: newHealth(time.Now, opts.OnHealth), reserve: res}
	ckpt := newCheckpointer()
	ckpt.db, ckpt.writer, ckpt.walPath, ckpt.limit, ckpt.syncs = ckptDB, writeDB, opts.Path+"-wal", opts.WALLimit, wal.count
	ckpt.vol, ckpt.observe, ckpt.observeSize = vol, opts.OnCheckpoint, opts.OnWALSize
	vol.filled, vol.walSize, wal.grown = ckpt.fill, ckpt.walSize, ckpt.grown
	s, err := sqlstore.New(ctx, sqlstore.Config{
		Dialect:       &sqlstore.Dialect{Name: "sqlite", Migrations: sub, CacheStatements: true, SyncCommits: wal.sync},
		WriteDB:       writeDB,
		ReadDB:        readDB,
		Shards:        1, // SQLite has a single writer anyway
		MaxBatch:      opts.MaxBatch,
		Now:           opts.Now,
		OnCommit:      opts.OnCommit,
		OnClose:       func() error { return errors.Join(ckpt.close(), wal.close()) },
		Release:       lock.Close,
		MaxReadAge:    opts.MaxReadAge,
		Writable:      vol.health.writable,
		OnWriteResult: vol.writeResult,
		Health:        vol.health.get,
	})
	if err != nil {
		return nil, errors.Join(err, ckptDB.Close(), writeDB.Close(), readDB.Close())
	}
	// What a crash or a full volume left in the log goes into the database
	// file first; then the reserve is taken, or writes wait for room.
	if ckpt.walSize() > 0 {
		ckpt.truncate(ctx)
	}
	if !vol.health.isFull() {
		if err := res.take(vol.logRoom()); err != nil {
			vol.health.setFull("no room for the write reserve: " + err.Error())
		}
	}
	ckpt.start()
	return s, nil
}

func fsSub() (fs.FS, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	return sub, nil
}
