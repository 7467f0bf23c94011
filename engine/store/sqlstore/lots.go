package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

func insertLot(tx *txn, memberID, eventID string, points int64, state string, availableAt, expiresAt time.Time) {
	var expires sql.NullInt64
	if !expiresAt.IsZero() {
		expires = sql.NullInt64{Int64: expiresAt.UnixMicro(), Valid: true}
	}
	tx.addLot(lotRow{memberID: memberID, eventID: eventID, amount: points, state: state, availableAt: availableAt.UnixMicro(), expiresAt: expires})
}

type lot struct {
	id        int64
	eventID   string
	remaining int64
}

// lotsWhere reads lots matching a condition (which may end in ORDER BY/LIMIT).
func lotsWhere(ctx context.Context, tx *txn, cond string, args ...any) ([]lot, error) {
	rows, err := tx.query(ctx, `SELECT id, event_id, remaining FROM lots WHERE `+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("read lots: %w", err)
	}
	defer rows.Close()
	var lots []lot
	for rows.Next() {
		var l lot
		if err := rows.Scan(&l.id, &l.eventID, &l.remaining); err != nil {
			return nil, fmt.Errorf("read lots: %w", err)
		}
		lots = append(lots, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read lots: %w", err)
	}
	return lots, nil
}

// takeLotsChunk bounds how many lots are read at once while consuming.
const takeLotsChunk = 64

// takeLots consumes up to want points from the member's lots in the given
// state (only the event's lots when eventID is set), soonest-expiring first,
// lots without expiry last. It returns the points taken.
func takeLots(ctx context.Context, tx *txn, memberID, state, eventID string, want int64) (int64, error) {
	if want <= 0 {
		return 0, nil
	}
	if _, cached := tx.lotCache[lotKey{memberID, state}]; cached || tx.jobsPerMember[memberID] > 1 {
		return tx.takeCachedLots(ctx, memberID, state, eventID, want)
	}
	if tx.d.Arrays {
		return takeLotsAtOnce(ctx, tx, memberID, state, eventID, want)
	}
	var taken int64
	for taken < want {
		cond := `member_id = ? AND state = ? AND remaining > 0`
		args := []any{memberID, state}
		if eventID != "" {
			cond += ` AND event_id = ?`
			args = append(args, eventID)
		}
		lots, err := lotsWhere(ctx, tx, cond+` ORDER BY (expires_at IS NULL), expires_at, id LIMIT ?`, append(args, takeLotsChunk)...)
		if err != nil {
			return taken, err
		}
		for _, l := range lots {
			n := min(l.remaining, want-taken)
			if _, err := tx.exec(ctx, `UPDATE lots SET remaining = remaining - ? WHERE id = ?`, n, l.id); err != nil {
				return taken, fmt.Errorf("consume lot: %w", err)
			}
			taken += n
			if taken == want {
				break
			}
		}
		if len(lots) < takeLotsChunk {
			break
		}
	}
	return taken, nil
}

// takeLotsAtOnce is takeLots in one statement (one round trip): a running
// sum over the lots in consumption order picks the lots and the points each
// gives.
func takeLotsAtOnce(ctx context.Context, tx *txn, memberID, state, eventID string, want int64) (int64, error) {
	rows, err := tx.query(ctx, `WITH c AS (
			SELECT id, remaining, CAST(SUM(remaining) OVER (ORDER BY (expires_at IS NULL), expires_at, id) AS BIGINT) AS cum
			FROM lots WHERE member_id = ? AND state = ? AND remaining > 0 AND (? = '' OR event_id = ?)
		), t AS (
			SELECT id, LEAST(remaining, CAST(? AS BIGINT) - (cum - remaining)) AS take FROM c WHERE cum - remaining < CAST(? AS BIGINT)
		)
		UPDATE lots SET remaining = lots.remaining - t.take FROM t WHERE lots.id = t.id RETURNING t.take`,
		memberID, state, eventID, eventID, want, want)
	if err != nil {
		return 0, fmt.Errorf("consume lots: %w", err)
	}
	defer rows.Close()
	var taken int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return taken, tx.fail(fmt.Errorf("consume lots: %w", err))
		}
		taken += n
	}
	if err := rows.Err(); err != nil {
		return taken, tx.fail(fmt.Errorf("consume lots: %w", err))
	}
	if taken > 0 {
		tx.writes++
	}
	return taken, nil
}

// Lot states.
const (
	lotPending   = "pending"
	lotAvailable = "available"
)
