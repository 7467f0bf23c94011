package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// checkpointInterval is how often the WAL is copied back into the database
// file. The writer's commits never checkpoint (wal_autocheckpoint=0): a
// checkpoint in a commit would hold up every write of its batch. A page
// changed by several commits between two passes is copied once, so a
// longer interval writes less (at 200 ms a batch earn wrote 18 KB per
// event, at 1 s 14 KB) for a WAL file that holds about a second of writes.
const checkpointInterval = time.Second

// checkpointer copies committed WAL frames into the database file from a
// connection of its own, beside the writer. PASSIVE never waits for the
// writer or readers; frames still in use are copied by a later pass, and
// once all are copied the next commit starts the WAL from its beginning.
type checkpointer struct {
	db      *sql.DB
	observe func(time.Duration) // told how long each completed pass took; may be nil
	cancel  context.CancelFunc
	done    chan struct{}
}

func startCheckpointer(db *sql.DB, observe func(time.Duration)) *checkpointer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, observe: observe, cancel: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// An error (a busy database) leaves the frames for the next pass.
			start := time.Now()
			if _, err := c.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err == nil && c.observe != nil {
				c.observe(time.Since(start))
			}
		}
	}
}

// close stops the passes; closing the last connection checkpoints the rest.
func (c *checkpointer) close() error {
	c.cancel()
	<-c.done
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("sqlite: close checkpoint connection: %w", err)
	}
	return nil
}
