package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Enroll implements ledger.Ledger.
func (s *Store) Enroll(ctx context.Context, req ledger.EnrollRequest) (ledger.EnrollResult, error) {
	norm, err := req.Normalize()
	if err != nil {
		return ledger.EnrollResult{}, err
	}
	if err := norm.CheckEnrolledAt(s.now()); err != nil {
		return ledger.EnrollResult{}, err
	}
	gen := s.members.generation()
	var rev int64
	// The member row does not exist yet, so no row lock serialises two
	// processes enrolling with the same key: the key is claimed first.
	out, replayed, err := write(ctx, s, idemOp{op: ledger.OpEnroll, memberID: norm.MemberID, key: req.IdempotencyKey,
		hash: requestHash(ledger.OpEnroll, req.Fingerprint, norm), claimKeyFirst: true}, func(ctx context.Context, tx *txn) (ledger.EnrollResult, error) {
		if m, ok := tx.members[norm.MemberID]; ok && m.exists {
			if norm.ReferralCode != "" {
				_, err := checkReferralCode(ctx, tx, norm, true)
				return ledger.EnrollResult{}, err
			}
			return ledger.EnrollResult{}, ledger.ErrMemberExists
		}
		var referrerID string
		if norm.ReferralCode != "" {
			if referrerID, err = checkReferralCode(ctx, tx, norm, false); err != nil {
				return ledger.EnrollResult{}, err
			}
		}
		m := ledger.Member{ID: norm.MemberID, Tags: norm.Tags, EnrolledAt: norm.EnrolledAt}
		if m.EnrolledAt.IsZero() {
			m.EnrolledAt = s.now()
		}
		tags, err := json.Marshal(m.Tags)
		if err != nil {
			return ledger.EnrollResult{}, fmt.Errorf("encode tags: %w", err)
		}
		// Enrolment starts the inactivity clock.
		enrolled := m.EnrolledAt.UnixMicro()
		// The referral code is random like a redemption code; the unique
		// index refuses a collision rather than share a code.
		m.ReferralCode = newRedemptionCode()
		// The tags' revision starts random: a replica that cached an
		// erased member of the same id sees another revision.
		rev = newTagsRev()
		res, err := tx.exec(ctx, `INSERT INTO members (id, tags, enrolled_at, available, pending, lifetime, last_activity_at, referral_code, tags_rev)
			VALUES (?, ?, ?, 0, 0, 0, ?, ?, ?) ON CONFLICT DO NOTHING`, m.ID, string(tags), enrolled, enrolled, m.ReferralCode, rev)
		if err != nil {
			return ledger.EnrollResult{}, fmt.Errorf("insert member: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return ledger.EnrollResult{}, fmt.Errorf("insert member: %w", err)
		} else if n == 0 {
			return ledger.EnrollResult{}, ledger.ErrMemberExists
		}
		tx.members[m.ID] = &memberRow{id: m.ID, lastActivity: enrolled, tagsRev: rev, exists: true}
		if referrerID != "" {
			// The referee is the key: a member is referred once.
			if _, err := tx.exec(ctx, `INSERT INTO referrals (referee_id, referrer_id, created_at) VALUES (?, ?, ?)`,
				m.ID, referrerID, enrolled); err != nil {
				return ledger.EnrollResult{}, fmt.Errorf("insert referral: %w", err)
			}
		}
		if err := tx.emit(ledger.EventMemberEnrolled, m.ID, s.now(), enrolledData{EnrolledAt: m.EnrolledAt, ReferredBy: referrerID}); err != nil {
			return ledger.EnrollResult{}, err
		}
		return ledger.EnrollResult{Member: m, ReferredBy: referrerID}, nil
	})
	out.Replayed = replayed
	if err == nil && !replayed {
		// Pricing the new member's first earn needs no read: it is in the
		// entry tier, with the tags and enrolment just written.
		s.members.fill(gen, map[string]cachedMember{out.Member.ID: {
			tags: out.Member.Tags, tagsRev: rev, enrolledAt: ledger.NormTime(out.Member.EnrolledAt)}})
	}
	return out, err
}

// newTagsRev is a random non-negative starting revision of a member's tags.
func newTagsRev() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	return int64(binary.BigEndian.Uint64(b[:]) >> 2)
}
