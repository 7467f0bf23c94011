// Package service is the points engine's application layer: every use
// case that writes (enrol, patch and erase a member, earn one event or a batch, redeem, redeem a
// reward and cancel it, reverse, adjust, export, import) with the pricing
// of events against the configuration in effect, the retry when a
// member's tier changed under an earn, and the idempotency policy: what
// identifies a request for its key, and when a key is looked up before
// writing. It calls the store through the narrow Store interface, so it
// is tested with an in-memory store; engine/httpapi maps HTTP to it.
package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Store is what the service needs of the ledger: the writes, the reads
// pricing and idempotency depend on, export and import. Every
// ledger.Ledger is one.
type Store interface {
	Enroll(ctx context.Context, req ledger.EnrollRequest) (ledger.EnrollResult, error)
	Earn(ctx context.Context, req ledger.EarnRequest) (ledger.EarnResult, error)
	EarnBatch(ctx context.Context, req ledger.EarnBatchRequest) (ledger.EarnBatchResult, error)
	Redeem(ctx context.Context, req ledger.RedeemRequest) (ledger.RedeemResult, error)
	Reverse(ctx context.Context, req ledger.ReverseRequest) (ledger.ReverseResult, error)
	Adjust(ctx context.Context, req ledger.AdjustRequest) (ledger.AdjustResult, error)
	RedeemReward(ctx context.Context, req ledger.RedeemRewardRequest) (ledger.RedeemRewardResult, error)
	CancelRedemption(ctx context.Context, req ledger.CancelRedemptionRequest) (ledger.CancelRedemptionResult, error)
	PatchMember(ctx context.Context, req ledger.PatchMemberRequest) (ledger.PatchMemberResult, error)
	EraseMember(ctx context.Context, req ledger.EraseMemberRequest) (ledger.EraseMemberResult, error)
	ChangeMembership(ctx context.Context, req ledger.MembershipRequest) (ledger.MembershipResult, error)
	Member(ctx context.Context, memberID string, now time.Time) (ledger.MemberView, error)
	Replay(ctx context.Context, queries []ledger.ReplayQuery) ([]ledger.ReplayAnswer, error)
	PricingContexts(ctx context.Context, qs []ledger.PricingQuery) ([]ledger.PricingState, error)
	Export(ctx context.Context, w io.Writer, opts ledger.ExportOptions) (ledger.ExportSummary, error)
	Import(ctx context.Context, r io.Reader) (ledger.ImportResult, error)
}

// Configuration is the configuration in effect: nil until one is loaded.
// A *config.Holder is one.
type Configuration interface {
	Current() *config.Snapshot
}

// ErrNoConfiguration: a use case that depends on the program's
// configuration was called before one was loaded.
var ErrNoConfiguration = errors.New("no configuration loaded yet")

// Service runs the use cases.
type Service struct {
	store  Store
	config Configuration
	now    func() time.Time
}

// New returns a service over store, pricing with the configuration in
// effect at now (time.Now when nil).
func New(store Store, cfg Configuration, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, config: cfg, now: now}
}

func (s *Service) snapshot() (*config.Snapshot, error) {
	snap := s.config.Current()
	if snap == nil {
		return nil, ErrNoConfiguration
	}
	return snap, nil
}

// fingerprint identifies a request for its idempotency key by what the
// client sent: the body in canonical form (keys sorted, no insignificant
// whitespace, numbers as written) with the operation. A retry is then the
// same request whatever the configuration or the clock now say. Single and
// batch earns share the operation, so an event may be retried either way.
func fingerprint(op ledger.Op, body []byte) string {
	canon := body
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) == nil { // the caller decoded the body strictly already
		if b, err := json.Marshal(v); err == nil {
			canon = b
		}
	}
	h := sha256.New()
	h.Write([]byte(op))
	h.Write([]byte{0})
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil))
}

// withPath is a body with a parameter sent beside it (in the URL), as one
// JSON object to fingerprint.
func withPath(name, value string, body []byte) []byte {
	b, err := json.Marshal(map[string]any{name: value, "body": json.RawMessage(body)})
	if err != nil {
		return body // the body was decoded strictly already, so it marshals
	}
	return b
}

// replayed answers a known idempotency key with its stored result. It is
// looked up before anything that depends on the configuration or the
// clock, for the writes whose check of those would refuse a retry.
func replayed[T any](ctx context.Context, s *Service, key, fp string) (T, bool, error) {
	var out T
	if key == "" {
		return out, false, nil // refused by validation further on
	}
	a, err := s.store.Replay(ctx, []ledger.ReplayQuery{{Key: key, Fingerprint: fp}})
	if err != nil || !a[0].Found {
		return out, false, err
	}
	if a[0].Err != nil {
		return out, false, a[0].Err
	}
	if err := json.Unmarshal(a[0].Result, &out); err != nil {
		return out, false, fmt.Errorf("idempotencyKey %q: decode stored result: %w", key, err)
	}
	return out, true, nil
}
