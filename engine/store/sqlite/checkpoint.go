package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"
)

// checkpointInterval is how often the WAL is copied back into the database
// file. The writer's commits never checkpoint (wal_autocheckpoint=0): a
// checkpoint in a commit would hold up every write of its batch. A page
// changed by several commits between two passes is copied once, so a
// longer interval writes less (at 200 ms a batch earn wrote 18 KB per
// event, at 1 s 14 KB) for a WAL file that holds about a second of writes.
const checkpointInterval = time.Second

// walCheckInterval is how often the WAL file's size is looked at besides
// after every group commit (see walSyncer.grown), for the metric and to
// tell when writes stopped.
const walCheckInterval = 100 * time.Millisecond

// DefaultWALLimit is the WAL size above which writes pause for a checkpoint
// that truncates the log (Options.WALLimit), and the size of the reserve.
const DefaultWALLimit = 64 << 20

// readerWait is how long a truncating checkpoint waits for readers that
// still use the log (SQLite's busy handler, through the checkpoint
// connection's busy_timeout). Writes are paused meanwhile; readers that
// start during the wait read the database file alone and do not hold it
// up. A read takes milliseconds; a longer one (an export, analytics)
// leaves the log for a later try and, past the store's maximum read age,
// is aborted.
const readerWait = 250 * time.Millisecond

// checkpointer keeps the write-ahead log bounded, from a connection of its
// own beside the writer:
//
//   - Every checkpointInterval a PASSIVE checkpoint copies committed frames
//     into the database file without waiting for the writer or readers.
//     Under sustained writes that never lets the log start again from its
//     beginning: the writer restarts it only when every frame is copied
//     and no reader uses it when a write transaction begins.
//   - When the log file outgrows the limit, a RESTART checkpoint takes the
//     writer's only connection, which pauses writes between two group
//     commits, copies what is left and waits up to readerWait for readers
//     of the log to finish; the writer's next commit then starts the log
//     again from its beginning and trims the file to the limit
//     (journal_size_limit). Should a reader outlast the wait, writes
//     resume and the log is tried again a pass later; the store is then
//     reported checkpoint_stalled.
//   - When no write was synced since the last pass (writes are idle), a
//     TRUNCATE checkpoint does the same and truncates the file to zero
//     bytes, which gives its room back.
//   - While the volume is full, it checkpoints and truncates the log to
//     give its room back and takes the reserve again once there is room
//     (see volume.go); while writes fail for another reason, it probes
//     whether the database can be written again.
//
// Under sustained writes the log is restarted by the writer, not
// truncated by this connection: a TRUNCATE rewrites the log's header in
// shared memory from another connection, and SQLite then drops the
// writer's whole page cache at its next transaction (pager_reset), which
// the writer had to read back page by page; in a profile of batch earns
// that dropping and reading back cost about 7% of the engine's CPU.
//
// The size is looked at after every group commit, so the log stays under
// the limit plus what the writer appends while the checkpoint waits for
// the group commit in progress (two commits at most), as long as no
// reader holds a snapshot for longer than readerWait; a reader that does
// makes it grow by what the writer appends while the reader lasts, at
// most the maximum read age.
type checkpointer struct {
	db      *sql.DB // the checkpoints' own connection
	writer  *sql.DB // the writer's pool: holding its only connection pauses writes
	walPath string
	limit   int64
	syncs   func() int64 // WAL syncs so far; unchanged over a pass: writes are idle
	vol     *volume
	// observe is told how long each completed checkpoint took, and
	// observeSize the log's size at every look; either may be nil.
	observe     func(time.Duration)
	observeSize func(int64)
	// over and filled ask for a look now: the log outgrew its limit, or
	// the volume filled.
	over, filled chan struct{}
	cancel       context.CancelFunc
	done         chan struct{}
}

// passResult is the outcome of a checkpoint.
type passResult int

const (
	passDone  passResult = iota
	passBusy             // readers (or the writer, for PASSIVE) kept some frames
	passError            // failed; the cause was handed to the volume
)

func newCheckpointer() *checkpointer {
	return &checkpointer{over: make(chan struct{}, 1), filled: make(chan struct{}, 1), done: make(chan struct{})}
}

func (c *checkpointer) start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(ctx)
}

// grown is told the log's size after each group commit.
func (c *checkpointer) grown(size int64) {
	if size > c.limit {
		signal(c.over)
	}
}

// fill is told that the volume filled.
func (c *checkpointer) fill() { signal(c.filled) }

// signal sends on a channel of one without waiting.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(walCheckInterval)
	defer t.Stop()
	var lastPass, lastProbe, retryAt time.Time
	lastSyncs := c.syncs()
	pinned := false // readers kept the log over its limit from being truncated
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.over:
		case <-c.filled:
			lastPass = time.Time{} // recover at once
		}
		size := c.walSize()
		if c.observeSize != nil {
			c.observeSize(size)
		}
		if size <= c.limit {
			pinned = false
			c.vol.health.setStalled("")
		}
		now := time.Now()
		switch {
		case c.vol.health.isFull():
			if now.Sub(lastPass) >= checkpointInterval {
				lastPass = now
				c.recoverRoom(ctx, size)
			}
		case size > c.limit && !now.Before(retryAt):
			lastPass = now
			switch res, truncated := c.restart(ctx); res {
			case passBusy:
				pinned = true
				c.vol.health.setStalled(fmt.Sprintf("readers keep the write-ahead log from being checkpointed and truncated: it is %s, over its %s limit", mib(size), mib(c.limit)))
				retryAt = now.Add(checkpointInterval) // writes go on meanwhile
			case passDone:
				if !pinned {
					c.vol.noteLog(truncated) // what the write rate makes of the limit
				}
				pinned = false
			}
		case now.Sub(lastPass) >= checkpointInterval:
			lastPass = now
			syncs := c.syncs()
			if syncs == lastSyncs && size > 0 {
				c.truncate(ctx) // writes are idle: give the log's room back
			} else {
				c.passive(ctx)
			}
			lastSyncs = syncs
		}
		if c.vol.health.isFailed() && now.Sub(lastProbe) >= checkpointInterval {
			lastProbe = now
			c.vol.probe(ctx, c.writer)
		}
	}
}

// walSize is the WAL file's size, 0 when there is none.
func (c *checkpointer) walSize() int64 {
	fi, err := os.Stat(c.walPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// passive copies what it can without waiting for anyone.
func (c *checkpointer) passive(ctx context.Context) passResult {
	return c.checkpoint(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
}

// truncate pauses writes, checkpoints the whole log and truncates it; it
// returns the log's size once writes were paused, the largest it grew to.
func (c *checkpointer) truncate(ctx context.Context) (passResult, int64) {
	return c.paused(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
}

// restart pauses writes and checkpoints the whole log, so that the
// writer's next commit starts it again from its beginning; it returns the
// log's size once writes were paused.
func (c *checkpointer) restart(ctx context.Context) (passResult, int64) {
	return c.paused(ctx, `PRAGMA wal_checkpoint(RESTART)`)
}

// paused runs a checkpoint that waits for readers while it holds the
// writer's connection.
func (c *checkpointer) paused(ctx context.Context, stmt string) (passResult, int64) {
	// Taking the writer's only connection waits for the group commit in
	// progress; the writer's next transaction waits until it is back.
	conn, err := c.writer.Conn(ctx)
	if err != nil {
		return passError, 0 // the store is closing
	}
	defer conn.Close()
	size := c.walSize()
	res := c.checkpoint(ctx, stmt)
	if res == passDone {
		c.vol.health.setStalled("") // no reader holds the log any more
	}
	return res, size
}

// checkpoint runs a checkpoint statement; its first column says whether
// it was kept from completing.
func (c *checkpointer) checkpoint(ctx context.Context, stmt string) passResult {
	start := time.Now()
	var busy, frames, copied int64
	if err := c.db.QueryRowContext(ctx, stmt).Scan(&busy, &frames, &copied); err != nil {
		if ctx.Err() == nil {
			c.vol.checkpointFailed(err)
		}
		return passError
	}
	if c.observe != nil {
		c.observe(time.Since(start))
	}
	if busy != 0 {
		return passBusy
	}
	return passDone
}

// recoverRoom, on a full volume, truncates the log (with the room of the
// released reserve) and takes the reserve again when there is room.
func (c *checkpointer) recoverRoom(ctx context.Context, size int64) {
	if size > 0 {
		if res, _ := c.truncate(ctx); res != passDone {
			return
		}
	}
	c.vol.retake()
}

// close stops the passes; closing the last connection checkpoints the rest.
func (c *checkpointer) close() error {
	if c.cancel != nil {
		c.cancel()
		<-c.done
	}
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("sqlite: close checkpoint connection: %w", err)
	}
	return nil
}
