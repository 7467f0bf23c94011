package ledger

import (
	"github.com/loyaltyops/loyalty-operator/engine/internal/jsonenc"
)

// Earn results are encoded by hand, for the response and for the stored
// result a replay returns (see jsonenc).

// AppendJSON appends r as json.Marshal encodes it.
func (r EarnResult) AppendJSON(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, '{')
	dst = jsonenc.Int(jsonenc.Field(dst, "entrySeq"), r.EntrySeq)
	dst = jsonenc.String(jsonenc.Field(dst, "memberId"), r.MemberID)
	dst = jsonenc.String(jsonenc.Field(dst, "eventId"), r.EventID)
	dst = jsonenc.Int(jsonenc.Field(dst, "points"), r.Points)
	dst = jsonenc.Bool(jsonenc.Field(dst, "pending"), r.Pending)
	dst = r.Balance.appendJSON(jsonenc.Field(dst, "balance"))
	if r.Explanation != nil {
		if dst, err = r.Explanation.AppendJSON(jsonenc.Field(dst, "explanation")); err != nil {
			return dst, err
		}
	}
	if c := r.Referral; c != nil {
		dst = append(jsonenc.Field(dst, "referral"), '{')
		dst = jsonenc.String(jsonenc.Field(dst, "referrerId"), c.ReferrerID)
		dst = jsonenc.Int(jsonenc.Field(dst, "referrerReward"), c.ReferrerReward)
		dst = jsonenc.Int(jsonenc.Field(dst, "refereeReward"), c.RefereeReward)
		if dst, err = jsonenc.Time(jsonenc.Field(dst, "availableAt"), c.AvailableAt); err != nil {
			return dst, err
		}
		dst = append(dst, '}')
	}
	if r.Replayed {
		dst = jsonenc.Bool(jsonenc.Field(dst, "replayed"), true)
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

// AppendJSON appends r as json.Marshal encodes it.
func (r EarnBatchResult) AppendJSON(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, '{')
	if dst, err = jsonenc.Array(jsonenc.Field(dst, "items"), r.Items, (*EarnBatchItem).appendJSON); err != nil {
		return dst, err
	}
	dst = jsonenc.Int(jsonenc.Field(dst, "succeeded"), int64(r.Succeeded))
	dst = jsonenc.Int(jsonenc.Field(dst, "failed"), int64(r.Failed))
	return append(dst, '}'), nil
}

func (it *EarnBatchItem) appendJSON(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, '{')
	dst = jsonenc.Int(jsonenc.Field(dst, "index"), int64(it.Index))
	dst = jsonenc.String(jsonenc.Field(dst, "eventId"), it.EventID)
	switch {
	case it.Result != nil && len(it.ResultJSON) > 0:
		dst = append(jsonenc.Field(dst, "result"), it.ResultJSON...)
	case it.Result != nil:
		if dst, err = it.Result.AppendJSON(jsonenc.Field(dst, "result")); err != nil {
			return dst, err
		}
	}
	if e := it.Error; e != nil {
		dst = append(jsonenc.Field(dst, "error"), '{')
		dst = jsonenc.String(jsonenc.Field(dst, "code"), e.Code)
		if e.Field != "" {
			dst = jsonenc.String(jsonenc.Field(dst, "field"), e.Field)
		}
		dst = jsonenc.String(jsonenc.Field(dst, "message"), e.Message)
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}
