package sqlstore

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/internal/strictjson"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// The records of the export stream, one per table row. Times are RFC 3339
// in UTC with microseconds, as stored; optional times are absent when the
// column is NULL (or 0 for lastActivityAt and tierSince, which the schema
// defaults to 0). docs/data-portability.md documents each field.

type memberRecord struct {
	Type           string   `json:"type"`
	ID             string   `json:"id"`
	Tags           []string `json:"tags"`
	EnrolledAt     stamp    `json:"enrolledAt"`
	Available      int64    `json:"available"`
	Pending        int64    `json:"pending"`
	LifetimeEarned int64    `json:"lifetimeEarned"`
	LastActivityAt *stamp   `json:"lastActivityAt,omitempty"`
	Tier           string   `json:"tier,omitempty"`
	TierSince      *stamp   `json:"tierSince,omitempty"`
	ReferralCode   *string  `json:"referralCode,omitempty"`
	// The profile; absent from streams of earlier versions.
	Attributes map[string]string         `json:"attributes,omitempty"`
	BirthDate  *ledger.BirthDate         `json:"birthDate,omitempty"`
	Consents   map[string]ledger.Consent `json:"consents,omitempty"`
	ErasedAt   *stamp                    `json:"erasedAt,omitempty"`
}

type memberTierRecord struct {
	Type            string `json:"type"`
	MemberID        string `json:"memberId"`
	Tier            string `json:"tier"`
	LastQualifiedAt stamp  `json:"lastQualifiedAt"`
}

type referralRecord struct {
	Type              string  `json:"type"`
	RefereeID         string  `json:"refereeId"`
	ReferrerID        string  `json:"referrerId"`
	CreatedAt         stamp   `json:"createdAt"`
	ConvertedAt       *stamp  `json:"convertedAt,omitempty"`
	QualifyingEventID *string `json:"qualifyingEventId,omitempty"`
	ReferrerReward    int64   `json:"referrerReward"`
	RefereeReward     int64   `json:"refereeReward"`
	ClawedBack        bool    `json:"clawedBack"`
}

type eventRecord struct {
	Type           string `json:"type"`
	MemberID       string `json:"memberId"`
	EventID        string `json:"eventId"`
	Points         int64  `json:"points"`
	Reversed       int64  `json:"reversed"`
	PurchaseAmount int64  `json:"purchaseAmount"`
	// Refunded is absent from streams of earlier versions; an import
	// derives it from the points reversed (see parseEvent).
	Refunded   *int64 `json:"refunded,omitempty"`
	Currency   string `json:"currency"`
	OccurredAt stamp  `json:"occurredAt"`
	RecordedAt stamp  `json:"recordedAt"`
	Action     string `json:"action,omitempty"`
	// Clawed and Bonuses are absent from streams of earlier versions: their
	// reversals then give nothing back to campaigns.
	Clawed  int64        `json:"clawed,omitempty"`
	Bonuses []eventBonus `json:"bonuses,omitempty"`
}

type lotRecord struct {
	Type        string `json:"type"`
	ID          int64  `json:"id"`
	MemberID    string `json:"memberId"`
	EventID     string `json:"eventId"`
	Amount      int64  `json:"amount"`
	Remaining   int64  `json:"remaining"`
	State       string `json:"state"`
	AvailableAt stamp  `json:"availableAt"`
	ExpiresAt   *stamp `json:"expiresAt,omitempty"`
}

type entryRecord struct {
	Type      string `json:"type"`
	Seq       int64  `json:"seq"`
	MemberID  string `json:"memberId"`
	Kind      string `json:"kind"`
	Available int64  `json:"available"`
	Pending   int64  `json:"pending"`
	Lifetime  int64  `json:"lifetime"`
	EventID   string `json:"eventId,omitempty"`
	Reference string `json:"reference,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Shortfall int64  `json:"shortfall,omitempty"`
	At        stamp  `json:"at"`
}

type redemptionRecord struct {
	Type           string `json:"type"`
	Code           string `json:"code"`
	MemberID       string `json:"memberId"`
	RewardID       string `json:"rewardId"`
	Points         int64  `json:"points"`
	Status         string `json:"status"`
	RedeemedAt     stamp  `json:"redeemedAt"`
	CancelledAt    *stamp `json:"cancelledAt,omitempty"`
	PointsExpireAt *stamp `json:"pointsExpireAt,omitempty"`
}

type rewardStockRecord struct {
	Type     string `json:"type"`
	RewardID string `json:"rewardId"`
	Redeemed int64  `json:"redeemed"`
}

type campaignSpendRecord struct {
	Type     string `json:"type"`
	Campaign string `json:"campaign"`
	Granted  int64  `json:"granted"`
}

type memberCampaignRecord struct {
	Type     string `json:"type"`
	MemberID string `json:"memberId"`
	Campaign string `json:"campaign"`
	Granted  int64  `json:"granted"`
}

type activityRecord struct {
	Type     string `json:"type"`
	MemberID string `json:"memberId"`
	Day      int64  `json:"day"`
	Currency string `json:"currency"`
	Points   int64  `json:"points"`
	Spend    int64  `json:"spend"`
}

type idempotencyKeyRecord struct {
	Type        string `json:"type"`
	Key         string `json:"key"`
	Op          string `json:"op"`
	RequestHash string `json:"requestHash"`
	// Result is the stored JSON result as a string, so that a replay after
	// the import returns it byte for byte.
	Result    string `json:"result"`
	CreatedAt stamp  `json:"createdAt"`
}

// exportQueries read each record type, in stream order, by primary key.
var exportQueries = map[string]string{
	ledger.RecordMember: `SELECT id, tags, enrolled_at, available, pending, lifetime, last_activity_at, tier, tier_since, referral_code,
		attributes, consents, birth_month, birth_day, birth_year, erased_at
		FROM members ORDER BY id`,
	ledger.RecordMemberTier: `SELECT member_id, tier, last_qualified_at FROM member_tiers ORDER BY member_id, tier`,
	ledger.RecordReferral: `SELECT referee_id, referrer_id, created_at, converted_at, qualifying_event_id, referrer_reward, referee_reward, clawed_back
		FROM referrals ORDER BY referee_id`,
	ledger.RecordEvent: `SELECT member_id, event_id, points, reversed, purchase_amount, refunded, currency, occurred_at, recorded_at, action, clawed, bonuses
		FROM events ORDER BY member_id, event_id`,
	ledger.RecordLot: `SELECT id, member_id, event_id, amount, remaining, state, available_at, expires_at FROM lots ORDER BY id`,
	ledger.RecordEntry: `SELECT seq, member_id, kind, available, pending, lifetime, event_id, reference, reason, shortfall, at
		FROM entries ORDER BY seq`,
	ledger.RecordRedemption: `SELECT code, member_id, reward_id, points, status, redeemed_at, cancelled_at, points_expire_at
		FROM redemptions ORDER BY code`,
	ledger.RecordRewardStock:    `SELECT reward_id, redeemed FROM reward_stock ORDER BY reward_id`,
	ledger.RecordCampaignSpend:  `SELECT campaign, granted FROM campaign_spend ORDER BY campaign`,
	ledger.RecordMemberCampaign: `SELECT member_id, campaign, granted FROM member_campaigns ORDER BY member_id, campaign`,
	ledger.RecordActivity:       `SELECT member_id, day, currency, points, spend FROM member_activity_daily ORDER BY member_id, day, currency`,
	ledger.RecordIdempotencyKey: `SELECT idem_key, op, request_hash, result, created_at FROM idempotency_keys ORDER BY idem_key`,
}

// exportScanners scan a row of the type's query into its record.
var exportScanners = map[string]func(*sql.Rows) (any, error){
	ledger.RecordMember: func(rows *sql.Rows) (any, error) {
		r := memberRecord{Type: ledger.RecordMember}
		var tags string
		var enrolled, active, tierSince int64
		var code sql.NullString
		var attrs, consents string
		var month, day, year, erased sql.NullInt64
		if err := rows.Scan(&r.ID, &tags, &enrolled, &r.Available, &r.Pending, &r.LifetimeEarned, &active, &r.Tier, &tierSince, &code,
			&attrs, &consents, &month, &day, &year, &erased); err != nil {
			return nil, err
		}
		p, err := decodeProfile(attrs, consents, month, day, year)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", r.ID, err)
		}
		r.Attributes, r.BirthDate, r.Consents, r.ErasedAt = p.Attributes, p.BirthDate, p.Consents, nullTime(erased)
		if err := json.Unmarshal([]byte(tags), &r.Tags); err != nil {
			return nil, fmt.Errorf("member %s: decode tags: %w", r.ID, err)
		}
		r.EnrolledAt, r.LastActivityAt, r.TierSince = fromMicros(enrolled), nonZeroTime(active), nonZeroTime(tierSince)
		if code.Valid {
			r.ReferralCode = &code.String
		}
		return r, nil
	},
	ledger.RecordMemberTier: func(rows *sql.Rows) (any, error) {
		r := memberTierRecord{Type: ledger.RecordMemberTier}
		var at int64
		err := rows.Scan(&r.MemberID, &r.Tier, &at)
		r.LastQualifiedAt = fromMicros(at)
		return r, err
	},
	ledger.RecordReferral: func(rows *sql.Rows) (any, error) {
		r := referralRecord{Type: ledger.RecordReferral}
		var created int64
		var converted sql.NullInt64
		var event sql.NullString
		err := rows.Scan(&r.RefereeID, &r.ReferrerID, &created, &converted, &event, &r.ReferrerReward, &r.RefereeReward, &r.ClawedBack)
		r.CreatedAt, r.ConvertedAt = fromMicros(created), nullTime(converted)
		if event.Valid {
			r.QualifyingEventID = &event.String
		}
		return r, err
	},
	ledger.RecordEvent: func(rows *sql.Rows) (any, error) {
		r := eventRecord{Type: ledger.RecordEvent}
		var occurred, recorded, refunded int64
		var bonuses string
		if err := rows.Scan(&r.MemberID, &r.EventID, &r.Points, &r.Reversed, &r.PurchaseAmount, &refunded, &r.Currency, &occurred, &recorded, &r.Action,
			&r.Clawed, &bonuses); err != nil {
			return nil, err
		}
		r.OccurredAt, r.RecordedAt, r.Refunded = fromMicros(occurred), fromMicros(recorded), &refunded
		var err error
		if r.Bonuses, err = unmarshalBonuses(bonuses); err != nil {
			return nil, fmt.Errorf("event %s of %s: %w", r.EventID, r.MemberID, err)
		}
		return r, nil
	},
	ledger.RecordLot: func(rows *sql.Rows) (any, error) {
		r := lotRecord{Type: ledger.RecordLot}
		var available int64
		var expires sql.NullInt64
		err := rows.Scan(&r.ID, &r.MemberID, &r.EventID, &r.Amount, &r.Remaining, &r.State, &available, &expires)
		r.AvailableAt, r.ExpiresAt = fromMicros(available), nullTime(expires)
		return r, err
	},
	ledger.RecordEntry: func(rows *sql.Rows) (any, error) {
		r := entryRecord{Type: ledger.RecordEntry}
		var at int64
		err := rows.Scan(&r.Seq, &r.MemberID, &r.Kind, &r.Available, &r.Pending, &r.Lifetime, &r.EventID, &r.Reference, &r.Reason, &r.Shortfall, &at)
		r.At = fromMicros(at)
		return r, err
	},
	ledger.RecordRedemption: func(rows *sql.Rows) (any, error) {
		r := redemptionRecord{Type: ledger.RecordRedemption}
		var redeemed int64
		var cancelled, expire sql.NullInt64
		err := rows.Scan(&r.Code, &r.MemberID, &r.RewardID, &r.Points, &r.Status, &redeemed, &cancelled, &expire)
		r.RedeemedAt, r.CancelledAt, r.PointsExpireAt = fromMicros(redeemed), nullTime(cancelled), nullTime(expire)
		return r, err
	},
	ledger.RecordRewardStock: func(rows *sql.Rows) (any, error) {
		r := rewardStockRecord{Type: ledger.RecordRewardStock}
		return r, rows.Scan(&r.RewardID, &r.Redeemed)
	},
	ledger.RecordCampaignSpend: func(rows *sql.Rows) (any, error) {
		r := campaignSpendRecord{Type: ledger.RecordCampaignSpend}
		return r, rows.Scan(&r.Campaign, &r.Granted)
	},
	ledger.RecordMemberCampaign: func(rows *sql.Rows) (any, error) {
		r := memberCampaignRecord{Type: ledger.RecordMemberCampaign}
		return r, rows.Scan(&r.MemberID, &r.Campaign, &r.Granted)
	},
	ledger.RecordActivity: func(rows *sql.Rows) (any, error) {
		r := activityRecord{Type: ledger.RecordActivity}
		return r, rows.Scan(&r.MemberID, &r.Day, &r.Currency, &r.Points, &r.Spend)
	},
	ledger.RecordIdempotencyKey: func(rows *sql.Rows) (any, error) {
		r := idempotencyKeyRecord{Type: ledger.RecordIdempotencyKey}
		var created int64
		var stored string
		if err := rows.Scan(&r.Key, &r.Op, &r.RequestHash, &stored, &created); err != nil {
			return nil, err
		}
		result, err := loadResult(stored)
		if err != nil {
			return nil, fmt.Errorf("idempotency key %q: %w", r.Key, err)
		}
		r.Result, r.CreatedAt = string(result), fromMicros(created)
		return r, nil
	},
}

// stamp is a time of a record. Decoding refuses what the store cannot hold
// exactly (a precision finer than microseconds), which the JSON decoder
// reports with the field's name.
type stamp struct{ time.Time }

func (s *stamp) UnmarshalJSON(b []byte) error {
	var t time.Time
	if err := t.UnmarshalJSON(b); err != nil || !t.Equal(t.Truncate(time.Microsecond)) {
		return strictjson.Reason("want an RFC 3339 time with at most microsecond precision, got " + string(b))
	}
	s.Time = t.UTC()
	return nil
}

func (s stamp) micros() int64 { return s.UnixMicro() }

func fromMicros(us int64) stamp { return stamp{time.UnixMicro(us).UTC()} }

func nullTime(v sql.NullInt64) *stamp {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nonZeroTime(us int64) *stamp {
	if us == 0 {
		return nil
	}
	t := fromMicros(us)
	return &t
}

// exportWriter writes lines to the stream and hashes them.
type exportWriter struct {
	w      *bufio.Writer
	sum    hash.Hash
	counts map[string]int64
}

func (e *exportWriter) line(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	b = append(b, '\n')
	e.sum.Write(b)
	if _, err := e.w.Write(b); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	return nil
}

// Export implements ledger.Portable. Every table is read in one read-only
// transaction, which sees one snapshot: REPEATABLE READ on PostgreSQL, and a
// WAL read transaction on SQLite, whose snapshot is taken at its first read.
// Rows are encoded as they are read; w receives them in chunks of the
// buffer's size.
func (s *Store) Export(ctx context.Context, w io.Writer, opts ledger.ExportOptions) (_ ledger.ExportSummary, err error) {
	ctx, end := s.beginRead(ctx, false)
	defer end(&err)
	tx, err := s.cfg.ReadDB.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return ledger.ExportSummary{}, fmt.Errorf("export: begin snapshot: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only

	id := make([]byte, 16)
	rand.Read(id)
	h := ledger.ExportHeader{
		Type: ledger.RecordHeader, Format: ledger.ExportFormat, Version: ledger.ExportVersion,
		ExportID: hex.EncodeToString(id), ProgramID: opts.ProgramID, ExportedAt: s.now(), Dialect: s.cfg.Dialect.Name,
	}
	// The first read takes the snapshot on SQLite.
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&h.SchemaVersion); err != nil {
		return ledger.ExportSummary{}, fmt.Errorf("export: read schema version: %w", err)
	}
	// Rows leave as they are read, so the snapshot must be durable first.
	if err := s.durable.waitDurable(ctx); err != nil {
		return ledger.ExportSummary{}, fmt.Errorf("export: %w", err)
	}
	ew := &exportWriter{w: bufio.NewWriterSize(w, 64<<10), sum: sha256.New(), counts: make(map[string]int64, len(ledger.RecordTypes))}
	if err := ew.line(h); err != nil {
		return ledger.ExportSummary{}, fmt.Errorf("export: %w", err)
	}
	for _, typ := range ledger.RecordTypes {
		if err := ew.table(ctx, tx, typ); err != nil {
			return ledger.ExportSummary{}, fmt.Errorf("export %s records: %w", typ, err)
		}
	}
	sum := hex.EncodeToString(ew.sum.Sum(nil))
	if err := ew.line(ledger.ExportTrailer{Type: ledger.RecordTrailer, Counts: ew.counts, SHA256: sum}); err != nil {
		return ledger.ExportSummary{}, fmt.Errorf("export: %w", err)
	}
	if err := ew.w.Flush(); err != nil {
		return ledger.ExportSummary{}, fmt.Errorf("export: write: %w", err)
	}
	return ledger.ExportSummary{Header: h, Counts: ew.counts, SHA256: sum}, nil
}

// table writes every row of one record type.
func (e *exportWriter) table(ctx context.Context, tx *sql.Tx, typ string) error {
	rows, err := tx.QueryContext(ctx, exportQueries[typ])
	if err != nil {
		return err
	}
	defer rows.Close()
	scan := exportScanners[typ]
	var n int64
	for rows.Next() {
		rec, err := scan(rows)
		if err != nil {
			return err
		}
		if err := e.line(rec); err != nil {
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	e.counts[typ] = n
	return nil
}
