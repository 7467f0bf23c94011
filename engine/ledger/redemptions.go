package ledger

import (
	"errors"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// Write kinds of the reward catalog.
const (
	OpRedeemReward     Op = "redeemReward"
	OpCancelRedemption Op = "cancelRedemption"
)

// EntryCancel returns the points of a cancelled redemption. It does not
// change LifetimeEarned, as the redemption did not either.
const EntryCancel EntryKind = "cancel"

// Redemption statuses.
const (
	RedemptionActive    = "active"
	RedemptionCancelled = "cancelled"
)

// ErrRedemptionNotFound: no redemption has the code.
var ErrRedemptionNotFound = errors.New("redemption not found")

// ErrRedemptionCancelled: the redemption was cancelled already.
var ErrRedemptionCancelled = errors.New("redemption already cancelled")

// RedeemRewardRequest redeems one catalog reward for a member.
type RedeemRewardRequest struct {
	IdempotencyKey string `json:"idempotencyKey"`
	// Fingerprint, when set, identifies the request for its idempotency key
	// instead of the store's hash of the request (see Ledger).
	Fingerprint string `json:"-"`
	MemberID    string `json:"memberId"`
	RewardID    string `json:"rewardId"`
	// Program is the configuration the reward is checked against (its
	// rewards and tiers); the store runs rules.CheckRedemption with it under
	// the member's lock. Not part of the request's identity.
	Program *config.Snapshot `json:"-"`
}

// Normalize validates the request.
func (r RedeemRewardRequest) Normalize() (RedeemRewardRequest, error) {
	if err := CheckKey(r.IdempotencyKey); err != nil {
		return r, err
	}
	if err := checkID("memberId", r.MemberID); err != nil {
		return r, err
	}
	if err := checkID("rewardId", r.RewardID); err != nil {
		return r, err
	}
	if r.Program == nil {
		return r, fieldErr("rewardId", "no reward catalog is configured")
	}
	return r, nil
}

// Redemption is an issued reward code.
type Redemption struct {
	Code       string    `json:"code"`
	MemberID   string    `json:"memberId"`
	RewardID   string    `json:"rewardId"`
	Points     int64     `json:"points"`
	Status     string    `json:"status"`
	RedeemedAt time.Time `json:"redeemedAt"`
	// CancelledAt is set once the redemption is cancelled.
	CancelledAt *time.Time `json:"cancelledAt,omitempty"`
	// PointsExpireAt is the earliest expiry of the lots the points came
	// from: a cancellation returns them as a lot expiring then, so
	// cancelling never extends the life of points. Nil: none expired.
	PointsExpireAt *time.Time `json:"pointsExpireAt,omitempty"`
}

// RedeemRewardResult is the issued redemption and the member's balance.
type RedeemRewardResult struct {
	EntrySeq   int64         `json:"entrySeq"`
	Redemption Redemption    `json:"redemption"`
	Reward     config.Reward `json:"reward"`
	Balance    Balance       `json:"balance"`
	Replayed   bool          `json:"replayed,omitempty"`
}

// CancelRedemptionRequest cancels a redemption by its code.
type CancelRedemptionRequest struct {
	IdempotencyKey string `json:"idempotencyKey"`
	Fingerprint    string `json:"-"`
	Code           string `json:"code"`
	Reason         string `json:"reason,omitempty"`
}

// Normalize validates the request.
func (r CancelRedemptionRequest) Normalize() (CancelRedemptionRequest, error) {
	if err := CheckKey(r.IdempotencyKey); err != nil {
		return r, err
	}
	if err := checkID("code", r.Code); err != nil {
		return r, err
	}
	if err := checkText("reason", r.Reason); err != nil {
		return r, err
	}
	return r, nil
}

// CancelRedemptionResult is the cancelled redemption and the balance with
// its points returned.
type CancelRedemptionResult struct {
	EntrySeq   int64      `json:"entrySeq"`
	Redemption Redemption `json:"redemption"`
	Balance    Balance    `json:"balance"`
	Replayed   bool       `json:"replayed,omitempty"`
}
