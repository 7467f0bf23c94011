package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// outboxRow is an event buffered by the batch, appended to the outbox when
// the batch ends (flushOutbox), in the order the operations emitted it.
type outboxRow struct {
	id       string
	typ      ledger.EventType
	memberID string
	occurred int64
	data     []byte
}

// emit buffers an event of the operation being applied: it is written in
// the batch's transaction, so a rolled-back write emits nothing, and undo
// drops it with the operation's other rows.
func (t *txn) emit(typ ledger.EventType, memberID string, at time.Time, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", typ, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("event id: %w", err)
	}
	t.newOutbox = append(t.newOutbox, outboxRow{id: id.String(), typ: typ, memberID: memberID, occurred: at.UnixMicro(), data: b})
	return nil
}

// balanceData is a member's balance after the change an event reports.
type balanceData struct {
	Available int64 `json:"available"`
	Pending   int64 `json:"pending"`
}

// pointsData is the data of the points.* events: the entry that recorded
// the change, what it moved and the balance after it.
type pointsData struct {
	EntrySeq  int64       `json:"entrySeq"`
	Available int64       `json:"available"`
	Pending   int64       `json:"pending"`
	Shortfall int64       `json:"shortfall,omitempty"`
	EventID   string      `json:"eventId,omitempty"`
	Reference string      `json:"reference,omitempty"`
	Reason    string      `json:"reason,omitempty"`
	Balance   balanceData `json:"balance"`
}

// entryEvents maps the entry kinds that report themselves to their event;
// tier and reward entries are reported by their use case, with their data.
var entryEvents = map[ledger.EntryKind]ledger.EventType{
	ledger.EntryEarn:    ledger.EventPointsEarned,
	ledger.EntryRedeem:  ledger.EventPointsRedeemed,
	ledger.EntryRelease: ledger.EventPointsReleased,
	ledger.EntryReverse: ledger.EventPointsReversed,
	ledger.EntryAdjust:  ledger.EventPointsAdjusted,
	ledger.EntryExpire:  ledger.EventPointsExpired,
}

// emitEntry reports a balance change recorded by changeBalance.
func (t *txn) emitEntry(seq int64, m *memberRow, e entry) error {
	typ, ok := entryEvents[e.kind]
	if !ok || e.quiet {
		return nil
	}
	return t.emit(typ, m.id, e.at, pointsData{EntrySeq: seq, Available: e.available, Pending: e.pending,
		Shortfall: e.shortfall, EventID: e.eventID, Reference: e.reference, Reason: e.reason,
		Balance: balanceData{Available: m.bal.Available, Pending: m.bal.Pending}})
}

// flushOutbox appends the batch's events. It runs last, after the campaign
// spend rows: on PostgreSQL it takes the outbox head's row lock, which
// serialises the end of every writer's commit so that sequence order is
// commit order (a reader never sees a sequence before a lower one commits).
func (t *txn) flushOutbox(ctx context.Context) error {
	rows := t.newOutbox
	if len(rows) == 0 {
		return nil
	}
	t.newOutbox = rows[:0]
	if err := t.dialect.writeOutbox(ctx, t, rows); err != nil {
		return fmt.Errorf("append to the outbox: %w", err)
	}
	return nil
}

// enrolledData is member.enrolled's data.
type enrolledData struct {
	EnrolledAt time.Time `json:"enrolledAt"`
	ReferredBy string    `json:"referredBy,omitempty"`
}

// tierData is tier.changed's data.
type tierData struct {
	EntrySeq int64  `json:"entrySeq"`
	Tier     string `json:"tier"`
	Previous string `json:"previous"`
	Change   string `json:"change"`
}

// rewardData is the data of reward.redeemed and reward.cancelled; entrySeq
// is 0 for a reward that cost no points.
type rewardData struct {
	EntrySeq int64       `json:"entrySeq"`
	Code     string      `json:"code"`
	RewardID string      `json:"rewardId"`
	Points   int64       `json:"points"`
	Reason   string      `json:"reason,omitempty"`
	Balance  balanceData `json:"balance"`
}

// referralData is referral.converted's data; the member is the referee.
type referralData struct {
	ReferrerID     string `json:"referrerId"`
	EventID        string `json:"eventId"`
	ReferrerReward int64  `json:"referrerReward"`
	RefereeReward  int64  `json:"refereeReward"`
}

// exhaustedData is campaign.budget_exhausted's data; the member is the one
// whose earn took the budget's last points.
type exhaustedData struct {
	Campaign string `json:"campaign"`
	Budget   int64  `json:"budget"`
	Granted  int64  `json:"granted"`
}

// emitExhausted reports a campaign whose budget the grant just spent.
func (t *txn) emitExhausted(memberID string, b ledger.CampaignBonus, spend *grantRow, now time.Time) error {
	if b.Budget == nil || spend.granted < *b.Budget {
		return nil
	}
	return t.emit(ledger.EventCampaignExhausted, memberID, now, exhaustedData{Campaign: b.Campaign, Budget: *b.Budget, Granted: spend.granted})
}
