package ledger

import (
	"encoding/json"

	"github.com/loyaltyops/loyalty-operator/engine/internal/jsonenc"
)

// Earn results are encoded by hand, for the stored record a replay returns
// and for the response (see jsonenc).

// AppendJSON appends r's record (see EarnResult): this is what a store
// keeps for replays. A fresh result's explanation is summarised as it is
// encoded, not built as a summary first.
func (r EarnResult) AppendJSON(dst []byte) ([]byte, error) {
	if r.Explanation == nil {
		return r.Record().AppendJSON(dst)
	}
	dst = appendEarnFields(dst, r.EntrySeq, r.MemberID, r.EventID, r.Points, r.Pending, r.Balance)
	dst = r.Explanation.AppendSummaryJSON(jsonenc.Field(dst, "explanation"))
	dst, err := r.Referral.appendJSON(dst)
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

// MarshalJSON encodes r's record, like AppendJSON.
func (r EarnResult) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil) }

// UnmarshalJSON decodes a record into the result a replay answers. It
// reads an earn's response too (a record with replayed set).
func (r *EarnResult) UnmarshalJSON(b []byte) error {
	var resp struct {
		EarnRecord
		Replayed bool `json:"replayed"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return err
	}
	*r = resp.Result()
	r.Replayed = resp.Replayed
	return nil
}

// AppendJSON appends rec: its fields, then its compact explanation.
func (rec EarnRecord) AppendJSON(dst []byte) ([]byte, error) {
	dst = appendEarnFields(dst, rec.EntrySeq, rec.MemberID, rec.EventID, rec.Points, rec.Pending, rec.Balance)
	var err error
	if rec.Explanation != nil {
		if dst, err = rec.Explanation.AppendJSON(jsonenc.Field(dst, "explanation")); err != nil {
			return dst, err
		}
	}
	if dst, err = rec.Referral.appendJSON(dst); err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

// AppendFullJSON appends r as an earn's response with the full
// explanation: the record's fields in the record's order, the explanation
// in full (the summary on a replay) and replayed when set.
func (r *EarnResult) AppendFullJSON(dst []byte) ([]byte, error) {
	dst = appendEarnFields(dst, r.EntrySeq, r.MemberID, r.EventID, r.Points, r.Pending, r.Balance)
	var err error
	switch {
	case r.Explanation != nil:
		dst, err = r.Explanation.AppendJSON(jsonenc.Field(dst, "explanation"))
	case r.Summary != nil:
		dst, err = r.Summary.AppendJSON(jsonenc.Field(dst, "explanation"))
	}
	if err != nil {
		return dst, err
	}
	if dst, err = r.Referral.appendJSON(dst); err != nil {
		return dst, err
	}
	if r.Replayed {
		dst = jsonenc.Bool(jsonenc.Field(dst, "replayed"), true)
	}
	return append(dst, '}'), nil
}

// appendEarnFields opens an earn's object with the fields every encoding
// of it starts with.
func appendEarnFields(dst []byte, seq int64, memberID, eventID string, points int64, pending bool, b Balance) []byte {
	dst = append(dst, '{')
	dst = jsonenc.Int(jsonenc.Field(dst, "entrySeq"), seq)
	dst = jsonenc.String(jsonenc.Field(dst, "memberId"), memberID)
	dst = jsonenc.String(jsonenc.Field(dst, "eventId"), eventID)
	dst = jsonenc.Int(jsonenc.Field(dst, "points"), points)
	dst = jsonenc.Bool(jsonenc.Field(dst, "pending"), pending)
	return b.appendJSON(jsonenc.Field(dst, "balance"))
}

// appendJSON appends the referral field when c is set.
func (c *ReferralConversion) appendJSON(dst []byte) ([]byte, error) {
	if c == nil {
		return dst, nil
	}
	dst = append(jsonenc.Field(dst, "referral"), '{')
	dst = jsonenc.String(jsonenc.Field(dst, "referrerId"), c.ReferrerID)
	dst = jsonenc.Int(jsonenc.Field(dst, "referrerReward"), c.ReferrerReward)
	dst = jsonenc.Int(jsonenc.Field(dst, "refereeReward"), c.RefereeReward)
	dst, err := jsonenc.Time(jsonenc.Field(dst, "availableAt"), c.AvailableAt)
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

func (b Balance) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = jsonenc.Int(jsonenc.Field(dst, "available"), b.Available)
	dst = jsonenc.Int(jsonenc.Field(dst, "pending"), b.Pending)
	dst = jsonenc.Int(jsonenc.Field(dst, "lifetimeEarned"), b.LifetimeEarned)
	return append(dst, '}')
}
