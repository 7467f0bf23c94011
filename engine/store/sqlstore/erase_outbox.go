package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// updatedData is member.updated's data: the profile fields a patch changed,
// never their values, which subscribers read from the member view.
type updatedData struct {
	Changed []string `json:"changed"`
}

// erasedData is member.erased's data.
type erasedData struct {
	ErasedAt time.Time `json:"erasedAt"`
}

// eraseOutbox rewrites the outbox events that name the erased id in their
// data (a referral's referrerId, an enrolment's referredBy, a referral
// reward's eventId) to the pseudonym, as scrubResult does for stored
// results; memberIDColumns moves the member's own events to the pseudonym.
// It then emits member.erased under the old id: the one event that still
// names it, so that subscribers erase the member too. It leaves the outbox
// with the rest of the delivered events (see the retention).
func (t *txn) eraseOutbox(ctx context.Context, oldID, pseudo string, now time.Time) error {
	quoted, err := json.Marshal(oldID)
	if err != nil {
		return fmt.Errorf("erase %s: %w", oldID, err)
	}
	escaped := string(bytes.Trim(quoted, `"`))
	rows, err := t.query(ctx, `SELECT seq, data FROM outbox WHERE REPLACE(data, ?, '') <> data OR REPLACE(data, ?, '') <> data`,
		oldID, escaped)
	if err != nil {
		return fmt.Errorf("erase %s: read the outbox: %w", oldID, err)
	}
	type rewrite struct {
		seq  int64
		data []byte
	}
	var todo []rewrite
	for rows.Next() {
		var seq int64
		var data string
		if err := rows.Scan(&seq, &data); err != nil {
			rows.Close()
			return t.fail(fmt.Errorf("erase %s: read the outbox: %w", oldID, err))
		}
		scrubbed, found, _, err := scrubResult([]byte(data), oldID, pseudo)
		if err != nil {
			rows.Close()
			return fmt.Errorf("erase %s: outbox event %d: %w", oldID, seq, err)
		}
		if found {
			todo = append(todo, rewrite{seq, scrubbed})
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return t.fail(fmt.Errorf("erase %s: read the outbox: %w", oldID, err))
	}
	for _, r := range todo {
		if _, err := t.exec(ctx, `UPDATE outbox SET data = ? WHERE seq = ?`, string(r.data), r.seq); err != nil {
			return fmt.Errorf("erase %s: rewrite outbox event %d: %w", oldID, r.seq, err)
		}
	}
	return t.emit(ledger.EventMemberErased, oldID, now, erasedData{ErasedAt: now.UTC()})
}
