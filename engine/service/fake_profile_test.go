package service

import (
	"context"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// The in-memory store's profiles: patches applied with the ledger's own
// validation and rules, changes recorded per member, erasure moving the
// member to a pseudonym.

func (m *memStore) PatchMember(_ context.Context, req ledger.PatchMemberRequest) (ledger.PatchMemberResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	norm, err := req.Normalize(m.now)
	if err != nil {
		return ledger.PatchMemberResult{}, err
	}
	res, replayed, _, err := write(m, ledger.OpPatchMember, req.IdempotencyKey, req.Fingerprint, func() (ledger.PatchMemberResult, error) {
		mm, err := m.member(norm.MemberID)
		if err != nil {
			return ledger.PatchMemberResult{}, err
		}
		if mm.ErasedAt != nil {
			return ledger.PatchMemberResult{}, ledger.ErrMemberErased
		}
		tags, p, changed := ledger.ApplyPatch(mm.Tags, mm.Profile, norm, m.now)
		if err := ledger.CheckAttributesLimit(p); err != nil {
			return ledger.PatchMemberResult{}, err
		}
		if len(changed) > 0 {
			mm.Tags, mm.Profile = tags, p
			mm.changes = append(mm.changes, ledger.ProfileChange{At: m.now, Actor: norm.Actor, Op: "patch", Fields: changed})
		}
		return ledger.PatchMemberResult{MemberID: norm.MemberID, Tags: tags, Profile: p, Changed: append([]string{}, changed...), At: m.now}, nil
	})
	res.Replayed = replayed
	return res, err
}

func (m *memStore) EraseMember(_ context.Context, req ledger.EraseMemberRequest) (ledger.EraseMemberResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	norm, err := req.Normalize()
	if err != nil {
		return ledger.EraseMemberResult{}, err
	}
	res, replayed, _, err := write(m, ledger.OpEraseMember, req.IdempotencyKey, req.Fingerprint, func() (ledger.EraseMemberResult, error) {
		mm, err := m.member(norm.MemberID)
		if err != nil {
			if at, ok := m.erasures[norm.MemberID]; ok {
				return ledger.EraseMemberResult{Erased: true, ErasedAt: at}, nil
			}
			return ledger.EraseMemberResult{}, err
		}
		pseudo := "erased-" + norm.MemberID + "-pseudonym"
		delete(m.members, norm.MemberID)
		at := m.now
		mm.ID, mm.Tags, mm.Profile, mm.ReferralCode, mm.ErasedAt = pseudo, nil, ledger.Profile{}, "", &at
		mm.changes = append(mm.changes, ledger.ProfileChange{At: m.now, Actor: norm.Actor, Op: "erase"})
		m.members[pseudo] = mm
		m.erasures[norm.MemberID] = at
		return ledger.EraseMemberResult{Erased: true, ErasedAt: at}, nil
	})
	res.Replayed = replayed
	return res, err
}
