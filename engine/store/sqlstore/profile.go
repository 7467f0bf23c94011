package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// PatchMember implements ledger.Ledger.
func (s *Store) PatchMember(ctx context.Context, req ledger.PatchMemberRequest) (ledger.PatchMemberResult, error) {
	now := s.now()
	norm, err := req.Normalize(now)
	if err != nil {
		return ledger.PatchMemberResult{}, err
	}
	op := idemOp{op: ledger.OpPatchMember, memberID: norm.MemberID, key: req.IdempotencyKey,
		hash: requestHash(ledger.OpPatchMember, req.Fingerprint, norm)}
	out, replayed, err := write(ctx, s, op, func(ctx context.Context, tx *txn) (ledger.PatchMemberResult, error) {
		m, err := tx.member(ctx, norm.MemberID)
		if err != nil {
			return ledger.PatchMemberResult{}, err
		}
		tags, p, erased, err := tx.readProfile(ctx, norm.MemberID)
		if err != nil {
			return ledger.PatchMemberResult{}, err
		}
		if erased {
			return ledger.PatchMemberResult{}, fmt.Errorf("%w: its profile cannot change", ledger.ErrMemberErased)
		}
		tags, p, changed := ledger.ApplyPatch(tags, p, norm, now)
		if err := ledger.CheckAttributesLimit(p); err != nil {
			return ledger.PatchMemberResult{}, err
		}
		res := ledger.PatchMemberResult{MemberID: norm.MemberID, Tags: tags, Profile: p, Changed: changed, At: ledger.NormTime(now)}
		if res.Changed == nil {
			res.Changed = []string{}
		}
		if len(changed) == 0 {
			return res, nil
		}
		tagsChanged := slices.Contains(changed, "tags")
		if err := tx.writeProfile(ctx, norm.MemberID, tags, p, tagsChanged); err != nil {
			return ledger.PatchMemberResult{}, err
		}
		if tagsChanged {
			m.tagsRev++ // for the batch's later earns
		}
		if err := tx.recordChange(ctx, norm.MemberID, norm.Actor, "patch", changed, now); err != nil {
			return ledger.PatchMemberResult{}, err
		}
		if err := tx.emit(ledger.EventMemberUpdated, norm.MemberID, now, updatedData{Changed: changed}); err != nil {
			return ledger.PatchMemberResult{}, err
		}
		// Pricing reads tags from the member cache: drop it after commit.
		tx.cacheDrops = append(tx.cacheDrops, norm.MemberID)
		return res, nil
	})
	out.Replayed = replayed
	return out, err
}

// readProfile reads a member's tags and profile, and whether it was erased.
func (t *txn) readProfile(ctx context.Context, memberID string) ([]string, ledger.Profile, bool, error) {
	var tags, attrs, consents string
	var month, day, year, erased sql.NullInt64
	err := t.queryRow(ctx, `SELECT tags, attributes, consents, birth_month, birth_day, birth_year, erased_at FROM members WHERE id = ?`,
		[]any{&tags, &attrs, &consents, &month, &day, &year, &erased}, memberID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ledger.Profile{}, false, ledger.ErrMemberNotFound
	}
	if err != nil {
		return nil, ledger.Profile{}, false, fmt.Errorf("read profile of %s: %w", memberID, err)
	}
	var tagList []string
	if err := json.Unmarshal([]byte(tags), &tagList); err != nil {
		return nil, ledger.Profile{}, false, fmt.Errorf("read profile of %s: decode tags: %w", memberID, err)
	}
	p, err := decodeProfile(attrs, consents, month, day, year)
	if err != nil {
		return nil, ledger.Profile{}, false, fmt.Errorf("read profile of %s: %w", memberID, err)
	}
	return tagList, p, erased.Valid, nil
}

// decodeProfile makes a profile of its columns.
func decodeProfile(attrs, consents string, month, day, year sql.NullInt64) (ledger.Profile, error) {
	p := ledger.Profile{Attributes: map[string]string{}, Consents: map[string]ledger.Consent{}}
	if err := json.Unmarshal([]byte(attrs), &p.Attributes); err != nil {
		return p, fmt.Errorf("decode attributes: %w", err)
	}
	if err := json.Unmarshal([]byte(consents), &p.Consents); err != nil {
		return p, fmt.Errorf("decode consents: %w", err)
	}
	if month.Valid && day.Valid {
		p.BirthDate = &ledger.BirthDate{Month: int(month.Int64), Day: int(day.Int64)}
		if year.Valid {
			y := int(year.Int64)
			p.BirthDate.Year = &y
		}
	}
	return p, nil
}

// profileColumns are the column values of a profile.
func profileColumns(p ledger.Profile) (attrs, consents string, month, day, year sql.NullInt64, err error) {
	a, err := json.Marshal(p.Attributes)
	if err != nil {
		return "", "", month, day, year, fmt.Errorf("encode attributes: %w", err)
	}
	c, err := json.Marshal(p.Consents)
	if err != nil {
		return "", "", month, day, year, fmt.Errorf("encode consents: %w", err)
	}
	if b := p.BirthDate; b != nil {
		month = sql.NullInt64{Int64: int64(b.Month), Valid: true}
		day = sql.NullInt64{Int64: int64(b.Day), Valid: true}
		if b.Year != nil {
			year = sql.NullInt64{Int64: int64(*b.Year), Valid: true}
		}
	}
	return string(a), string(c), month, day, year, nil
}

// writeProfile writes the member's tags and profile, counting a change of
// the tags in tags_rev.
func (t *txn) writeProfile(ctx context.Context, memberID string, tags []string, p ledger.Profile, tagsChanged bool) error {
	tagJSON, err := json.Marshal(tags)
	if err != nil {
		return fmt.Errorf("encode tags: %w", err)
	}
	attrs, consents, month, day, year, err := profileColumns(p)
	if err != nil {
		return err
	}
	rev := 0
	if tagsChanged {
		rev = 1
	}
	if _, err := t.exec(ctx, `UPDATE members SET tags = ?, attributes = ?, consents = ?, birth_month = ?, birth_day = ?, birth_year = ?,
		tags_rev = tags_rev + ? WHERE id = ?`, string(tagJSON), attrs, consents, month, day, year, rev, memberID); err != nil {
		return fmt.Errorf("update profile of %s: %w", memberID, err)
	}
	return nil
}

// recordChange adds a line to the member's profile history.
func (t *txn) recordChange(ctx context.Context, memberID, actor, op string, fields []string, now time.Time) error {
	f, err := json.Marshal(fields)
	if err != nil {
		return fmt.Errorf("encode changed fields: %w", err)
	}
	if _, err := t.exec(ctx, `INSERT INTO member_changes (member_id, at, actor, op, fields) VALUES (?, ?, ?, ?, ?)`,
		memberID, now.UnixMicro(), actor, op, string(f)); err != nil {
		return fmt.Errorf("record change of %s: %w", memberID, err)
	}
	return nil
}

// ProfileHistory implements ledger.Ledger.
func (s *Store) ProfileHistory(ctx context.Context, memberID string) (_ []ledger.ProfileChange, err error) {
	ctx, end := s.beginRead(ctx, true)
	defer end(&err)
	if err := ledger.CheckMemberID(memberID); err != nil {
		return nil, err
	}
	rows, err := s.cfg.ReadDB.QueryContext(ctx, s.cfg.Dialect.rebind(`SELECT c.at, c.actor, c.op, c.fields FROM members m
		LEFT JOIN member_changes c ON c.member_id = m.id WHERE m.id = ? ORDER BY c.seq`), memberID)
	if err != nil {
		return nil, fmt.Errorf("read profile history of %s: %w", memberID, err)
	}
	defer rows.Close()
	out, found := []ledger.ProfileChange{}, false
	for rows.Next() {
		found = true
		var at sql.NullInt64
		var actor, op, fields sql.NullString
		if err := rows.Scan(&at, &actor, &op, &fields); err != nil {
			return nil, fmt.Errorf("read profile history of %s: %w", memberID, err)
		}
		if !at.Valid {
			continue // the member without changes
		}
		c := ledger.ProfileChange{At: time.UnixMicro(at.Int64).UTC(), Actor: actor.String, Op: op.String}
		if err := json.Unmarshal([]byte(fields.String), &c.Fields); err != nil {
			return nil, fmt.Errorf("read profile history of %s: decode fields: %w", memberID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read profile history of %s: %w", memberID, err)
	}
	if !found {
		return nil, ledger.ErrMemberNotFound
	}
	return out, nil
}
