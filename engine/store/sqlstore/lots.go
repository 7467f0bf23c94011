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
	return tx.dialect.takeLots(ctx, tx, memberID, state, eventID, want)
}

// Lot states: pending until available_at, then available until its points
// are all taken (spent) or it expires.
const (
	lotPending   = "pending"
	lotAvailable = "available"
)

// setRemaining is the statement that leaves a lot with the given points
// and its arguments. A lot left with points changes no column an index
// holds or is partial on, so SQLite writes the lot's own page alone and
// PostgreSQL may update it in place; an available lot left with none is
// spent, which the indexes of live lots then skip by its state (migration
// 14).
func setRemaining(id, remaining int64) (string, []any) {
	if remaining > 0 {
		return `UPDATE lots SET remaining = ? WHERE id = ?`, []any{remaining, id}
	}
	return `UPDATE lots SET remaining = 0, state = CASE WHEN state = 'available' THEN 'spent' ELSE state END WHERE id = ?`, []any{id}
}
