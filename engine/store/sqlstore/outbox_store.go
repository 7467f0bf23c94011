package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

var _ ledger.Outbox = (*Store)(nil)

// OutboxAfter implements ledger.Outbox. It returns only what is durable:
// an event is never delivered that a power loss could take back.
func (s *Store) OutboxAfter(ctx context.Context, seq int64, limit int) (_ []ledger.OutboxEvent, err error) {
	ctx, end := s.beginRead(ctx, true)
	defer end(&err)
	rows, err := s.cfg.ReadDB.QueryContext(ctx, s.cfg.Dialect.rebind(
		`SELECT seq, id, type, member_id, occurred_at, data FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`), seq, limit)
	if err != nil {
		return nil, fmt.Errorf("read the outbox: %w", err)
	}
	defer rows.Close()
	var out []ledger.OutboxEvent
	for rows.Next() {
		var ev ledger.OutboxEvent
		var occurred int64
		var data string
		if err := rows.Scan(&ev.Seq, &ev.ID, &ev.Type, &ev.MemberID, &occurred, &data); err != nil {
			return nil, fmt.Errorf("read the outbox: %w", err)
		}
		ev.Occurred, ev.Data = time.UnixMicro(occurred).UTC(), []byte(data)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the outbox: %w", err)
	}
	return out, nil
}

// OutboxHead implements ledger.Outbox.
func (s *Store) OutboxHead(ctx context.Context) (_ int64, err error) {
	ctx, end := s.beginRead(ctx, true)
	defer end(&err)
	var head int64
	if err := s.cfg.ReadDB.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM outbox`).Scan(&head); err != nil {
		return 0, fmt.Errorf("read the outbox head: %w", err)
	}
	return head, nil
}

// SinkCursor implements ledger.Outbox.
func (s *Store) SinkCursor(ctx context.Context, sink string) (_ int64, err error) {
	ctx, end := s.beginRead(ctx, false)
	defer end(&err)
	var seq int64
	err = s.cfg.ReadDB.QueryRowContext(ctx, s.cfg.Dialect.rebind(`SELECT delivered_seq FROM event_sinks WHERE sink = ?`), sink).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the cursor of sink %s: %w", sink, err)
	}
	return seq, nil
}

// AdvanceSink implements ledger.Outbox.
func (s *Store) AdvanceSink(ctx context.Context, sink string, seq int64) error {
	_, err := s.cfg.WriteDB.ExecContext(ctx, s.cfg.Dialect.rebind(`INSERT INTO event_sinks (sink, delivered_seq, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (sink) DO UPDATE SET delivered_seq = excluded.delivered_seq, updated_at = excluded.updated_at
		WHERE event_sinks.delivered_seq < excluded.delivered_seq`), sink, seq, s.now().UnixMicro())
	if err != nil {
		return classify(fmt.Errorf("advance the cursor of sink %s: %w", sink, err))
	}
	return nil
}

// DeadLetter implements ledger.Outbox.
func (s *Store) DeadLetter(ctx context.Context, d ledger.DeadLetter) error {
	_, err := s.cfg.WriteDB.ExecContext(ctx, s.cfg.Dialect.rebind(`INSERT INTO event_dead_letters (sink, seq, attempts, reason, dead_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (sink, seq) DO UPDATE SET attempts = excluded.attempts, reason = excluded.reason, dead_at = excluded.dead_at`),
		d.Sink, d.Seq, d.Attempts, d.Reason, s.now().UnixMicro())
	if err != nil {
		return classify(fmt.Errorf("dead-letter event %d of sink %s: %w", d.Seq, d.Sink, err))
	}
	return nil
}

// DeadLetters implements ledger.Outbox.
func (s *Store) DeadLetters(ctx context.Context, sink string) (_ []ledger.DeadLetter, err error) {
	ctx, end := s.beginRead(ctx, false)
	defer end(&err)
	rows, err := s.cfg.ReadDB.QueryContext(ctx, s.cfg.Dialect.rebind(
		`SELECT seq, attempts, reason, dead_at FROM event_dead_letters WHERE sink = ? ORDER BY seq`), sink)
	if err != nil {
		return nil, fmt.Errorf("read the dead letters of sink %s: %w", sink, err)
	}
	defer rows.Close()
	var out []ledger.DeadLetter
	for rows.Next() {
		d := ledger.DeadLetter{Sink: sink}
		var at int64
		if err := rows.Scan(&d.Seq, &d.Attempts, &d.Reason, &at); err != nil {
			return nil, fmt.Errorf("read the dead letters of sink %s: %w", sink, err)
		}
		d.At = time.UnixMicro(at).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// RequestRedelivery implements ledger.Outbox.
func (s *Store) RequestRedelivery(ctx context.Context, r ledger.Redelivery) error {
	if r.FromSeq < 1 || r.FromSeq > r.ToSeq {
		return ledger.ErrRedeliveryRange
	}
	res, err := s.cfg.WriteDB.ExecContext(ctx, s.cfg.Dialect.rebind(`INSERT INTO event_redeliveries (idem_key, sink, from_seq, to_seq, requested_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (idem_key) DO NOTHING`), r.IdempotencyKey, r.Sink, r.FromSeq, r.ToSeq, s.now().UnixMicro())
	if err != nil {
		return classify(fmt.Errorf("request redelivery: %w", err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	// A replayed key: the same request is accepted again, another refused.
	var prev ledger.Redelivery
	if err := s.cfg.WriteDB.QueryRowContext(ctx, s.cfg.Dialect.rebind(`SELECT sink, from_seq, to_seq FROM event_redeliveries WHERE idem_key = ?`),
		r.IdempotencyKey).Scan(&prev.Sink, &prev.FromSeq, &prev.ToSeq); err != nil {
		return classify(fmt.Errorf("request redelivery: %w", err))
	}
	if prev.Sink != r.Sink || prev.FromSeq != r.FromSeq || prev.ToSeq != r.ToSeq {
		return ledger.ErrIdempotencyReuse
	}
	return nil
}

// PendingRedeliveries implements ledger.Outbox.
func (s *Store) PendingRedeliveries(ctx context.Context, sink string) (_ []ledger.Redelivery, err error) {
	ctx, end := s.beginRead(ctx, false)
	defer end(&err)
	rows, err := s.cfg.ReadDB.QueryContext(ctx, s.cfg.Dialect.rebind(`SELECT idem_key, from_seq, to_seq FROM event_redeliveries
		WHERE sink = ? AND done_at IS NULL ORDER BY requested_at, idem_key`), sink)
	if err != nil {
		return nil, fmt.Errorf("read redeliveries of sink %s: %w", sink, err)
	}
	defer rows.Close()
	var out []ledger.Redelivery
	for rows.Next() {
		r := ledger.Redelivery{Sink: sink}
		if err := rows.Scan(&r.IdempotencyKey, &r.FromSeq, &r.ToSeq); err != nil {
			return nil, fmt.Errorf("read redeliveries of sink %s: %w", sink, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// FinishRedelivery implements ledger.Outbox.
func (s *Store) FinishRedelivery(ctx context.Context, key string) error {
	if _, err := s.cfg.WriteDB.ExecContext(ctx, s.cfg.Dialect.rebind(`UPDATE event_redeliveries SET done_at = ? WHERE idem_key = ?`),
		s.now().UnixMicro(), key); err != nil {
		return classify(fmt.Errorf("finish redelivery %s: %w", key, err))
	}
	return nil
}

// PruneOutbox implements ledger.Outbox: an event goes once every listed
// sink's cursor is past it and it is older than cutoff. A sink without a
// cursor has delivered nothing, so nothing is pruned.
func (s *Store) PruneOutbox(ctx context.Context, sinks []string, cutoff time.Time) (int64, error) {
	if len(sinks) == 0 {
		return 0, nil
	}
	var least int64
	for i, sink := range sinks {
		seq, err := s.SinkCursor(ctx, sink)
		if err != nil {
			return 0, err
		}
		if i == 0 || seq < least {
			least = seq
		}
	}
	res, err := s.cfg.WriteDB.ExecContext(ctx, s.cfg.Dialect.rebind(`DELETE FROM outbox WHERE seq <= ? AND occurred_at < ?`), least, cutoff.UnixMicro())
	if err != nil {
		return 0, classify(fmt.Errorf("prune the outbox: %w", err))
	}
	return res.RowsAffected()
}
