package service

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/loyaltyops/loyalty-operator/engine/internal/strictjson"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// MemberPatch is a change to a member's tags and profile, as sent (the
// body of PATCH /v1/members/{id}): an absent field is left as it is, an
// attribute set to null is deleted, a birthDate of null is removed.
type MemberPatch struct {
	IdempotencyKey string             `json:"idempotencyKey"`
	Tags           *[]string          `json:"tags,omitempty"`
	Attributes     map[string]*string `json:"attributes,omitempty"`
	// BirthDate is kept as sent, to tell null (remove) from absent.
	BirthDate jsontext.Value  `json:"birthDate,omitempty"`
	Consents  map[string]bool `json:"consents,omitempty"`
}

// PatchMember changes the member's tags and profile; actor (the API
// key's id) is recorded with the change. The member id is part of the
// request's identity, as the body alone may be the same for every member.
func (s *Service) PatchMember(ctx context.Context, memberID, actor string, p MemberPatch, body []byte) (ledger.PatchMemberResult, error) {
	req := ledger.PatchMemberRequest{IdempotencyKey: p.IdempotencyKey, MemberID: memberID, Actor: actor,
		Tags: p.Tags, Attributes: p.Attributes, Consents: p.Consents,
		Fingerprint: fingerprint(ledger.OpPatchMember, withPath("memberId", memberID, body))}
	switch raw := bytes.TrimSpace(p.BirthDate); {
	case len(raw) == 0:
	case string(raw) == "null":
		req.ClearBirthDate = true
	default:
		var b ledger.BirthDate
		if err := strictjson.Unmarshal(raw, &b); err != nil {
			var se *strictjson.Error
			if errors.As(err, &se) {
				return ledger.PatchMemberResult{}, &ledger.FieldError{Field: strings.TrimSuffix("birthDate."+se.Field, "."), Reason: se.Reason}
			}
			return ledger.PatchMemberResult{}, err
		}
		req.BirthDate = &b
	}
	return s.store.PatchMember(ctx, req)
}

// EraseMember erases the member's personal data (see
// ledger.Ledger.EraseMember); actor is recorded with the erasure.
func (s *Service) EraseMember(ctx context.Context, memberID, actor, key string, body []byte) (ledger.EraseMemberResult, error) {
	return s.store.EraseMember(ctx, ledger.EraseMemberRequest{IdempotencyKey: key, MemberID: memberID, Actor: actor,
		Fingerprint: fingerprint(ledger.OpEraseMember, withPath("memberId", memberID, body))})
}
