package sqlite

import (
	"context"
	"database/sql"
	"strconv"
	"sync/atomic"
)

// volume watches whether the database can be written: it feeds health from
// the writer's commits, the checkpoints and its own probes, and holds the
// reserve.
type volume struct {
	health  *health
	reserve *reserve
	// filled is called when the volume has just filled (the checkpointer's
	// wake), so that the log is checkpointed with the reserve's room;
	// walSize is the log's size now.
	filled  func()
	walSize func() int64
	// logPeak is the largest size the log reached, no reader holding it,
	// before a checkpoint restarted it for outgrowing its limit or the
	// volume filled: the limit plus what the writer appends while the
	// checkpoint comes, which grows with the write rate. Writes resume
	// after a full volume only with room for twice that, so that the next
	// log does not fill the volume at once.
	logPeak atomic.Int64
}

// writeResult is sqlstore.Config.OnWriteResult: a commit clears a failure,
// a write that failed for lack of room fills the volume, one that failed
// otherwise because the database cannot be written is a failure.
func (v *volume) writeResult(err error) {
	full, unwritable := writeFault(err)
	switch {
	case err == nil:
		if v.health.isFailed() {
			v.health.setFailed("")
		}
	case full:
		v.fill("a write failed: " + err.Error())
	case unwritable:
		v.health.setFailed("writes fail: " + err.Error())
	}
}

// checkpointFailed sorts a checkpoint's failure like a write's.
func (v *volume) checkpointFailed(err error) {
	if full, _ := writeFault(err); full {
		v.fill("a checkpoint failed: " + err.Error())
	}
}

// fill refuses writes and releases the reserve for the checkpoint that
// gives the log's room back. A reserve that cannot be deleted leaves the
// checkpoint to the room there is.
func (v *volume) fill(why string) {
	if v.health.isFull() {
		return
	}
	if !v.health.isStalled() {
		v.noteLog(v.walSize()) // the log as the write rate made it; not one readers held
	}
	v.health.setFull(why)
	_ = v.reserve.release()
	if v.filled != nil {
		v.filled()
	}
}

// noteLog records the size of a log that outgrew its limit, or filled the
// volume, while no reader held it.
func (v *volume) noteLog(size int64) {
	for {
		peak := v.logPeak.Load()
		if size <= peak || v.logPeak.CompareAndSwap(peak, size) {
			return
		}
	}
}

// logRoom is the room the log needs beside the reserve: twice the largest
// it grew to, and twice the limit at least.
func (v *volume) logRoom() int64 { return 2 * max(v.reserve.size, v.logPeak.Load()) }

// retake takes the reserve again if the volume has room for it and the
// log; writes are then taken again.
func (v *volume) retake() {
	if v.reserve.take(v.logRoom()) == nil {
		v.health.setFull("")
	}
}

// probe writes to the database on the writer's connection, between two
// group commits: setting user_version to its own value changes nothing
// (the schema's version is in schema_migrations) but rewrites the
// database's first page, so it appends a frame to the log as any write
// does. It is not synced: nothing waits on it.
func (v *volume) probe(ctx context.Context, writer *sql.DB) {
	conn, err := writer.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	var version int64
	if err := conn.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return
	}
	_, err = conn.ExecContext(ctx, "PRAGMA user_version = "+strconv.FormatInt(version, 10))
	if ctx.Err() == nil {
		v.writeResult(err)
	}
}
