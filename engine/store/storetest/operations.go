package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

func testEnroll(t *testing.T, s ledger.Ledger) {
	enrolledAt := t0.Add(-time.Hour)
	first := ledger.EnrollRequest{IdempotencyKey: "k1", MemberID: "m1", Tags: []string{"gold", "eu"}, EnrolledAt: enrolledAt}
	res, err := s.Enroll(ctx, first)
	wantErr(t, "enroll", err, nil, "")
	if res.Replayed || res.Member.ID != "m1" || !res.Member.EnrolledAt.Equal(enrolledAt) || !reflect.DeepEqual(res.Member.Tags, first.Tags) {
		t.Fatalf("enroll result %+v", res)
	}

	replay, err := s.Enroll(ctx, first)
	wantErr(t, "replay", err, nil, "")
	if !replay.Replayed || !reflect.DeepEqual(replay.Member, res.Member) {
		t.Fatalf("replay %+v, want the original %+v replayed", replay, res)
	}

	tests := []struct {
		name  string
		req   ledger.EnrollRequest
		err   error
		field string
	}{
		{"same key, other request", ledger.EnrollRequest{IdempotencyKey: "k1", MemberID: "m2"}, ledger.ErrIdempotencyReuse, ""},
		{"member exists", ledger.EnrollRequest{IdempotencyKey: "k2", MemberID: "m1"}, ledger.ErrMemberExists, ""},
		{"no member id", ledger.EnrollRequest{IdempotencyKey: "k3"}, ledger.ErrInvalidRequest, "memberId"},
		{"no key", ledger.EnrollRequest{MemberID: "m3"}, ledger.ErrInvalidRequest, "idempotencyKey"},
		{"member id too long", ledger.EnrollRequest{IdempotencyKey: "k4", MemberID: strings.Repeat("x", ledger.MaxIDLength+1)}, ledger.ErrInvalidRequest, "memberId"},
		{"empty tag", ledger.EnrollRequest{IdempotencyKey: "k5", MemberID: "m5", Tags: []string{""}}, ledger.ErrInvalidRequest, "tags[0]"},
		// A tag is as long as a campaign's memberTags may be, in characters.
		{"tag longer than a campaign can name", ledger.EnrollRequest{IdempotencyKey: "k7", MemberID: "m7",
			Tags: []string{"ok", strings.Repeat("t", config.MaxTagLength+1)}}, ledger.ErrInvalidRequest, "tags[1]"},
		{"tag of the longest", ledger.EnrollRequest{IdempotencyKey: "k8", MemberID: "m8",
			Tags: []string{strings.Repeat("é", config.MaxTagLength)}}, nil, ""},
		{"second member", ledger.EnrollRequest{IdempotencyKey: "k6", MemberID: "m6"}, nil, ""},
	}
	for _, tc := range tests {
		_, err := s.Enroll(ctx, tc.req)
		wantErr(t, tc.name, err, tc.err, tc.field)
	}

	v := member(t, s, "m1", t0)
	if !reflect.DeepEqual(v.Tags, first.Tags) || !v.EnrolledAt.Equal(enrolledAt) || v.Balance != (ledger.Balance{}) {
		t.Fatalf("member view %+v", v)
	}
	if _, err := s.Member(ctx, "nobody", t0); !errors.Is(err, ledger.ErrMemberNotFound) {
		t.Fatalf("member of unknown id: %v", err)
	}
	if _, err := s.Member(ctx, "m2", t0); !errors.Is(err, ledger.ErrMemberNotFound) {
		t.Fatalf("a reused key must not have enrolled m2: %v", err)
	}
}

func testEarn(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	req := ledger.EarnRequest{
		IdempotencyKey: "e1", MemberID: "m1", EventID: "order-1", Points: 120,
		PurchaseAmount: 12000, Currency: "EUR", OccurredAt: t0.Add(-time.Minute), ExpiresAt: day(365),
	}
	res, err := s.Earn(ctx, req)
	wantErr(t, "earn", err, nil, "")
	if res.Pending || res.Points != 120 || res.EntrySeq == 0 || res.Balance != (ledger.Balance{Available: 120, LifetimeEarned: 120}) {
		t.Fatalf("earn result %+v", res)
	}
	replay, err := s.Earn(ctx, req)
	wantErr(t, "replay", err, nil, "")
	if !replay.Replayed || replay.EntrySeq != res.EntrySeq || replay.Balance != res.Balance {
		t.Fatalf("replay %+v, want %+v replayed", replay, res)
	}
	// Times in another zone are the same request.
	inZone := req
	inZone.OccurredAt = req.OccurredAt.In(time.FixedZone("x", 3600))
	if replay, err := s.Earn(ctx, inZone); err != nil || !replay.Replayed {
		t.Fatalf("replay with zoned time: %+v %v", replay, err)
	}

	pending, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "e2", MemberID: "m1", EventID: "order-2", Points: 30, AvailableAt: day(14)})
	wantErr(t, "pending earn", err, nil, "")
	if !pending.Pending || pending.Balance != (ledger.Balance{Available: 120, Pending: 30, LifetimeEarned: 150}) {
		t.Fatalf("pending earn %+v", pending)
	}

	ok := func(key, event string) ledger.EarnRequest {
		return ledger.EarnRequest{IdempotencyKey: key, MemberID: "m1", EventID: event, Points: 10}
	}
	with := func(r ledger.EarnRequest, f func(*ledger.EarnRequest)) ledger.EarnRequest { f(&r); return r }
	tests := []struct {
		name  string
		req   ledger.EarnRequest
		err   error
		field string
	}{
		{"same key, other points", with(req, func(r *ledger.EarnRequest) { r.Points = 121 }), ledger.ErrIdempotencyReuse, ""},
		{"duplicate event", ok("e3", "order-1"), ledger.ErrDuplicateEvent, ""},
		{"unknown member", with(ok("e4", "order-4"), func(r *ledger.EarnRequest) { r.MemberID = "nobody" }), ledger.ErrMemberNotFound, ""},
		{"zero points", with(ok("e5", "order-5"), func(r *ledger.EarnRequest) { r.Points = 0 }), ledger.ErrInvalidRequest, "points"},
		{"negative points", with(ok("e6", "order-6"), func(r *ledger.EarnRequest) { r.Points = -5 }), ledger.ErrInvalidRequest, "points"},
		{"no event id", ok("e7", ""), ledger.ErrInvalidRequest, "eventId"},
		{"no member id", with(ok("e8", "order-8"), func(r *ledger.EarnRequest) { r.MemberID = "" }), ledger.ErrInvalidRequest, "memberId"},
		{"negative amount", with(ok("e9", "order-9"), func(r *ledger.EarnRequest) { r.PurchaseAmount = -1 }), ledger.ErrInvalidRequest, "purchaseAmount"},
		{"expires before available", with(ok("e10", "order-10"), func(r *ledger.EarnRequest) { r.AvailableAt, r.ExpiresAt = day(10), day(5) }), ledger.ErrInvalidRequest, "expiresAt"},
		{"no key", ok("", "order-11"), ledger.ErrInvalidRequest, "idempotencyKey"},
		{"same event, other member", with(ok("e12", "order-1"), func(r *ledger.EarnRequest) { r.MemberID = "m2" }), ledger.ErrMemberNotFound, ""},
	}
	for _, tc := range tests {
		_, err := s.Earn(ctx, tc.req)
		wantErr(t, tc.name, err, tc.err, tc.field)
	}
	// Event ids are unique per member, not globally.
	enroll(t, s, "m2")
	earn(t, s, ledger.EarnRequest{MemberID: "m2", EventID: "order-1", Points: 5})
	wantBalance(t, s, "m1", 120, 30, 150)
	wantBalance(t, s, "m2", 5, 0, 5)
}

func testEarnBatch(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	enroll(t, s, "m2")
	events := []ledger.EarnRequest{
		{IdempotencyKey: "b0", MemberID: "m1", EventID: "o0", Points: 10},
		{IdempotencyKey: "b1", MemberID: "m2", EventID: "o1", Points: 20, AvailableAt: day(7)},
		{IdempotencyKey: "b2", MemberID: "nobody", EventID: "o2", Points: 30},
		{IdempotencyKey: "b3", MemberID: "m1", EventID: "o3", Points: 0},
		{IdempotencyKey: "b4", MemberID: "m1", EventID: "o0", Points: 40}, // duplicate of b0's event
		{IdempotencyKey: "b5", MemberID: "m1", EventID: "o5", Points: 50},
	}
	res, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: events})
	wantErr(t, "batch", err, nil, "")
	if len(res.Items) != len(events) || res.Succeeded != 3 || res.Failed != 3 {
		t.Fatalf("batch result %+v", res)
	}
	wantCodes := []string{"", "", "member_not_found", "invalid_request", "duplicate_event", ""}
	for i, it := range res.Items {
		if it.Index != i || it.EventID != events[i].EventID {
			t.Fatalf("item %d: %+v", i, it)
		}
		code := ""
		if it.Error != nil {
			code = it.Error.Code
		}
		if code != wantCodes[i] || (code == "") != (it.Result != nil) {
			t.Fatalf("item %d: code %q result %+v, want code %q", i, code, it.Result, wantCodes[i])
		}
		wantResultJSON(t, i, it)
	}
	if f := res.Items[3].Error.Field; f != "events[3].points" {
		t.Fatalf("item 3 field %q", f)
	}
	wantBalance(t, s, "m1", 60, 0, 60)
	wantBalance(t, s, "m2", 0, 20, 20)

	again, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: events})
	wantErr(t, "batch replay", err, nil, "")
	for _, i := range []int{0, 1, 5} {
		if it := again.Items[i]; it.Result == nil || !it.Result.Replayed || it.Result.EntrySeq != res.Items[i].Result.EntrySeq {
			t.Fatalf("replayed item %d: %+v", i, it)
		}
		wantResultJSON(t, i, again.Items[i])
	}
	wantBalance(t, s, "m1", 60, 0, 60)

	_, err = s.EarnBatch(ctx, ledger.EarnBatchRequest{})
	wantErr(t, "empty batch", err, ledger.ErrInvalidRequest, "events")
	_, err = s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: make([]ledger.EarnRequest, ledger.MaxBatchEvents+1)})
	wantErr(t, "oversized batch", err, ledger.ErrInvalidRequest, "events")

	// A full batch of distinct members and events.
	full := make([]ledger.EarnRequest, ledger.MaxBatchEvents)
	for i := range full {
		id := key("bulk-", i%50)
		if i < 50 {
			enroll(t, s, id)
		}
		full[i] = ledger.EarnRequest{IdempotencyKey: key("full-", i), MemberID: id, EventID: key("ev-", i), Points: 3}
	}
	res, err = s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: full})
	if err != nil || res.Succeeded != len(full) {
		t.Fatalf("full batch: %d succeeded, err %v", res.Succeeded, err)
	}
	wantBalance(t, s, "bulk-7", 60, 0, 60)
}

// wantResultJSON checks that an item's pre-encoded result, which the
// response splices in place of Result, is Result's own encoding.
func wantResultJSON(t *testing.T, i int, it ledger.EarnBatchItem) {
	t.Helper()
	if it.ResultJSON == nil {
		return
	}
	if it.Result == nil {
		t.Fatalf("item %d: ResultJSON %s without a Result", i, it.ResultJSON)
	}
	want, err := it.Result.AppendJSON(nil)
	if err != nil {
		t.Fatalf("item %d: encode result: %v", i, err)
	}
	if !bytes.Equal(it.ResultJSON, want) {
		t.Fatalf("item %d: ResultJSON\n%s\nis not the result's encoding\n%s", i, it.ResultJSON, want)
	}
}

func testRedeem(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o1", Points: 100})
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o2", Points: 50, AvailableAt: day(3)})

	req := ledger.RedeemRequest{IdempotencyKey: "r1", MemberID: "m1", Points: 60, Reference: "voucher-9", Reason: "reward"}
	res, err := s.Redeem(ctx, req)
	wantErr(t, "redeem", err, nil, "")
	if res.Balance != (ledger.Balance{Available: 40, Pending: 50, LifetimeEarned: 150}) || res.Points != 60 {
		t.Fatalf("redeem result %+v", res)
	}
	replay, err := s.Redeem(ctx, req)
	if err != nil || !replay.Replayed || replay.EntrySeq != res.EntrySeq || replay.Balance != res.Balance {
		t.Fatalf("replay %+v %v", replay, err)
	}

	tests := []struct {
		name  string
		req   ledger.RedeemRequest
		err   error
		field string
	}{
		{"pending points are not spendable", ledger.RedeemRequest{IdempotencyKey: "r2", MemberID: "m1", Points: 41}, ledger.ErrInsufficientPoints, ""},
		{"same key, other points", ledger.RedeemRequest{IdempotencyKey: "r1", MemberID: "m1", Points: 61}, ledger.ErrIdempotencyReuse, ""},
		{"unknown member", ledger.RedeemRequest{IdempotencyKey: "r3", MemberID: "nobody", Points: 1}, ledger.ErrMemberNotFound, ""},
		{"zero points", ledger.RedeemRequest{IdempotencyKey: "r4", MemberID: "m1"}, ledger.ErrInvalidRequest, "points"},
		{"negative points", ledger.RedeemRequest{IdempotencyKey: "r5", MemberID: "m1", Points: -1}, ledger.ErrInvalidRequest, "points"},
		{"reference too long", ledger.RedeemRequest{IdempotencyKey: "r6", MemberID: "m1", Points: 1, Reference: strings.Repeat("r", ledger.MaxTextLength+1)}, ledger.ErrInvalidRequest, "reference"},
		// The key of a failed write is not kept, so it can carry a corrected request.
		{"key of a failed write is free", ledger.RedeemRequest{IdempotencyKey: "r2", MemberID: "m1", Points: 40}, nil, ""},
		{"down to zero, then nothing", ledger.RedeemRequest{IdempotencyKey: "r7", MemberID: "m1", Points: 1}, ledger.ErrInsufficientPoints, ""},
	}
	for _, tc := range tests {
		_, err := s.Redeem(ctx, tc.req)
		wantErr(t, tc.name, err, tc.err, tc.field)
	}
	wantBalance(t, s, "m1", 0, 50, 150)

	h := allHistory(t, s, "m1")
	if len(h) != 4 || h[0].Kind != ledger.EntryRedeem || h[0].Available != -40 || h[1].Reference != "voucher-9" || h[1].Reason != "reward" {
		t.Fatalf("history %+v", h)
	}
	// A refusal for too few points says how many were needed and available.
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o9", Points: 30})
	for _, tc := range []struct {
		what string
		do   func() error
		want ledger.InsufficientPointsError
	}{
		{"redeem", func() error {
			_, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: "r8", MemberID: "m1", Points: 45})
			return err
		}, ledger.InsufficientPointsError{Needed: 45, Available: 30}},
		{"debit adjustment", func() error {
			_, err := s.Adjust(ctx, ledger.AdjustRequest{IdempotencyKey: "r9", MemberID: "m1", Points: -31, Reason: "correction"})
			return err
		}, ledger.InsufficientPointsError{Needed: 31, Available: 30}},
		{"catalog redemption", func() error { _, err := redeemReward(s, "r10", "m1", "tv"); return err },
			ledger.InsufficientPointsError{Needed: 5000, Available: 30}},
	} {
		err := tc.do()
		var ip *ledger.InsufficientPointsError
		if !errors.As(err, &ip) || *ip != tc.want || !errors.Is(err, ledger.ErrInsufficientPoints) {
			t.Fatalf("%s: %v, want %+v", tc.what, err, tc.want)
		}
	}
	wantBalance(t, s, "m1", 30, 50, 180)
}

func testIdempotencyScope(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	// Keys are global: a key used by one operation cannot be used by another,
	// nor for another member.
	earn(t, s, ledger.EarnRequest{IdempotencyKey: "shared", MemberID: "m1", EventID: "o1", Points: 10})
	_, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: "shared", MemberID: "m1", Points: 10})
	wantErr(t, "redeem with an earn's key", err, ledger.ErrIdempotencyReuse, "")
	_, err = s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "shared", MemberID: "m2"})
	wantErr(t, "enroll with an earn's key", err, ledger.ErrIdempotencyReuse, "")
	_, err = s.Adjust(ctx, ledger.AdjustRequest{IdempotencyKey: "enroll-m1", MemberID: "m1", Points: 5, Reason: "x"})
	wantErr(t, "adjust with an enroll's key", err, ledger.ErrIdempotencyReuse, "")
	wantBalance(t, s, "m1", 10, 0, 10)
}

func testPendingRelease(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o1", Points: 100, AvailableAt: day(14), ExpiresAt: day(100)})
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o2", Points: 7, AvailableAt: day(20)})
	wantBalance(t, s, "m1", 0, 107, 107)
	_, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: "r1", MemberID: "m1", Points: 1})
	wantErr(t, "redeem pending", err, ledger.ErrInsufficientPoints, "")

	if r := processDue(t, s, day(13)); r != (ledger.ProcessDueResult{}) {
		t.Fatalf("nothing is due on day 13, got %+v", r)
	}
	if r := processDue(t, s, day(14)); r != (ledger.ProcessDueResult{ReleasedLots: 1, ReleasedPoints: 100}) {
		t.Fatalf("day 14: %+v", r)
	}
	wantBalance(t, s, "m1", 100, 7, 107)
	if r := processDue(t, s, day(14)); r != (ledger.ProcessDueResult{}) {
		t.Fatalf("a second run must do nothing, got %+v", r)
	}
	redeem(t, s, "m1", "r2", 100)
	if r := processDue(t, s, day(30)); r != (ledger.ProcessDueResult{ReleasedLots: 1, ReleasedPoints: 7}) {
		t.Fatalf("day 30: %+v", r)
	}
	wantBalance(t, s, "m1", 7, 0, 107)
	h := allHistory(t, s, "m1")
	if h[0].Kind != ledger.EntryRelease || h[0].Available != 7 || h[0].Pending != -7 || h[0].EventID != "o2" {
		t.Fatalf("release entry %+v", h[0])
	}
}

func testExpirySoonestFirst(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "never", Points: 100})
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "late", Points: 100, ExpiresAt: day(10)})
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "soon", Points: 100, ExpiresAt: day(5)})
	// A pending lot expiring soonest is not spendable and must not be used.
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "pending", Points: 100, AvailableAt: day(1), ExpiresAt: day(2)})

	redeem(t, s, "m1", "r1", 150) // all of "soon", half of "late"
	if r := processDue(t, s, day(6)); r != (ledger.ProcessDueResult{ReleasedLots: 1, ReleasedPoints: 100, ExpiredLots: 1, ExpiredPoints: 100}) {
		t.Fatalf("day 6: %+v (only the released pending lot should expire; 'soon' was spent)", r)
	}
	wantBalance(t, s, "m1", 150, 0, 400)
	if r := processDue(t, s, day(11)); r != (ledger.ProcessDueResult{ExpiredLots: 1, ExpiredPoints: 50}) {
		t.Fatalf("day 11: %+v", r)
	}
	wantBalance(t, s, "m1", 100, 0, 400)
	h := allHistory(t, s, "m1")
	if h[0].Kind != ledger.EntryExpire || h[0].Available != -50 || h[0].EventID != "late" {
		t.Fatalf("expire entry %+v", h[0])
	}
	if r := processDue(t, s, day(1000)); r != (ledger.ProcessDueResult{}) {
		t.Fatalf("lots without expiry never expire: %+v", r)
	}
	redeem(t, s, "m1", "r2", 100)
	wantBalance(t, s, "m1", 0, 0, 400)
}

func testExpiringSoon(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "in10", Points: 10, ExpiresAt: day(10)})
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "in29", Points: 20, ExpiresAt: day(29)})
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "in31", Points: 40, ExpiresAt: day(31)})
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "never", Points: 80})
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "pending", Points: 160, AvailableAt: day(3), ExpiresAt: day(20)})

	v := member(t, s, "m1", t0)
	if v.ExpiringSoon != 190 || !v.ExpiringBy.Equal(t0.Add(ledger.ExpiringWindow)) {
		t.Fatalf("expiring soon at day 0: %d by %v", v.ExpiringSoon, v.ExpiringBy)
	}
	redeem(t, s, "m1", "r1", 15) // takes 10 of in10 and 5 of in29
	if v := member(t, s, "m1", t0); v.ExpiringSoon != 175 {
		t.Fatalf("expiring soon after redeem: %d", v.ExpiringSoon)
	}
	if v := member(t, s, "m1", day(5)); v.ExpiringSoon != 215 {
		t.Fatalf("expiring soon at day 5: %d", v.ExpiringSoon)
	}
}

func testReverse(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o1", Points: 100, PurchaseAmount: 10000})

	req := ledger.ReverseRequest{IdempotencyKey: "v1", MemberID: "m1", EventID: "o1", Points: 30, Reason: "partial refund"}
	res, err := s.Reverse(ctx, req)
	wantErr(t, "partial reverse", err, nil, "")
	if res.Requested != 30 || res.FromAvailable != 30 || res.Shortfall != 0 || res.Balance != (ledger.Balance{Available: 70, LifetimeEarned: 70}) {
		t.Fatalf("partial reverse %+v", res)
	}
	if replay, err := s.Reverse(ctx, req); err != nil || !replay.Replayed || replay.EntrySeq != res.EntrySeq {
		t.Fatalf("replay %+v %v", replay, err)
	}

	tests := []struct {
		name  string
		req   ledger.ReverseRequest
		err   error
		field string
	}{
		{"more than left", ledger.ReverseRequest{IdempotencyKey: "v2", MemberID: "m1", EventID: "o1", Points: 71}, ledger.ErrInvalidRequest, "points"},
		{"unknown event", ledger.ReverseRequest{IdempotencyKey: "v3", MemberID: "m1", EventID: "o9"}, ledger.ErrEventNotFound, ""},
		{"unknown member", ledger.ReverseRequest{IdempotencyKey: "v4", MemberID: "nobody", EventID: "o1"}, ledger.ErrMemberNotFound, ""},
		{"negative points", ledger.ReverseRequest{IdempotencyKey: "v5", MemberID: "m1", EventID: "o1", Points: -1}, ledger.ErrInvalidRequest, "points"},
		{"no event id", ledger.ReverseRequest{IdempotencyKey: "v6", MemberID: "m1"}, ledger.ErrInvalidRequest, "eventId"},
		{"same key, other request", ledger.ReverseRequest{IdempotencyKey: "v1", MemberID: "m1", EventID: "o1", Points: 31}, ledger.ErrIdempotencyReuse, ""},
		{"the rest by default", ledger.ReverseRequest{IdempotencyKey: "v7", MemberID: "m1", EventID: "o1"}, nil, ""},
		{"nothing left", ledger.ReverseRequest{IdempotencyKey: "v8", MemberID: "m1", EventID: "o1"}, ledger.ErrNothingToReverse, ""},
	}
	for _, tc := range tests {
		_, err := s.Reverse(ctx, tc.req)
		wantErr(t, tc.name, err, tc.err, tc.field)
	}
	wantBalance(t, s, "m1", 0, 0, 0)
	h := allHistory(t, s, "m1")
	if h[0].Kind != ledger.EntryReverse || h[0].Available != -70 || h[0].Lifetime != -70 || h[0].EventID != "o1" {
		t.Fatalf("reverse entry %+v", h[0])
	}
}

func testReverseOwnPendingFirst(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "old", Points: 50})
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "other-pending", Points: 40, AvailableAt: day(7)})
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "refunded", Points: 100, AvailableAt: day(14)})

	res, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "v1", MemberID: "m1", EventID: "refunded", Points: 60})
	wantErr(t, "reverse pending", err, nil, "")
	if res.FromPending != 60 || res.FromAvailable != 0 || res.Shortfall != 0 {
		t.Fatalf("reverse %+v, want all from the event's pending lot", res)
	}
	wantBalance(t, s, "m1", 50, 80, 130)

	// After release the event's points are available; a reversal then takes
	// available lots soonest-expiring first, never another event's pending lot.
	processDue(t, s, day(14))
	wantBalance(t, s, "m1", 130, 0, 130)
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "new-pending", Points: 500, AvailableAt: day(40)})
	res, err = s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "v2", MemberID: "m1", EventID: "refunded"})
	wantErr(t, "reverse released", err, nil, "")
	if res.Requested != 40 || res.FromPending != 0 || res.FromAvailable != 40 {
		t.Fatalf("reverse %+v", res)
	}
	wantBalance(t, s, "m1", 90, 500, 590)
}

func testReverseShortfall(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o1", Points: 100})
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o2", Points: 25, AvailableAt: day(5)})
	redeem(t, s, "m1", "r1", 80)

	res, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "v1", MemberID: "m1", EventID: "o1", Reason: "return"})
	wantErr(t, "reverse", err, nil, "")
	if res.Requested != 100 || res.FromAvailable != 20 || res.FromPending != 0 || res.Shortfall != 80 {
		t.Fatalf("reverse %+v, want 20 taken and 80 short", res)
	}
	if res.Balance != (ledger.Balance{Available: 0, Pending: 25, LifetimeEarned: 25}) {
		t.Fatalf("balance %+v", res.Balance)
	}
	h := allHistory(t, s, "m1")
	if h[0].Shortfall != 80 || h[0].Available != -20 || h[0].Reason != "return" {
		t.Fatalf("reverse entry %+v", h[0])
	}
	_, err = s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "v2", MemberID: "m1", EventID: "o1"})
	wantErr(t, "reverse again", err, ledger.ErrNothingToReverse, "")
}

func testReverseByRefundAmount(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "o1", Points: 100, PurchaseAmount: 10000, Currency: "EUR"})
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "bonus", Points: 10})
	steps := []struct {
		refund, want int64
		err          error
		field        string
	}{
		{2500, 25, nil, ""},
		{3333, 33, nil, ""}, // 33.33 rounds to 33
		{10001, 0, ledger.ErrInvalidRequest, "refundAmount"},
		{10000, 42, nil, ""}, // capped at what is left
		{1, 0, ledger.ErrNothingToReverse, ""},
	}
	for i, st := range steps {
		res, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: key("v", i), MemberID: "m1", EventID: "o1", RefundAmount: st.refund})
		wantErr(t, key("refund ", st.refund), err, st.err, st.field)
		if err == nil && (res.Requested != st.want || res.FromAvailable != st.want) {
			t.Fatalf("refund %d: %+v, want %d points", st.refund, res, st.want)
		}
	}
	_, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "w1", MemberID: "m1", EventID: "bonus", RefundAmount: 1})
	wantErr(t, "refund of an event without purchase", err, ledger.ErrInvalidRequest, "refundAmount")
	_, err = s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "w2", MemberID: "m1", EventID: "bonus", RefundAmount: 1, Points: 1})
	wantErr(t, "points and refund", err, ledger.ErrInvalidRequest, "refundAmount")
	wantBalance(t, s, "m1", 10, 0, 10)
}

func testAdjust(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	res, err := s.Adjust(ctx, ledger.AdjustRequest{IdempotencyKey: "a1", MemberID: "m1", Points: 70, Reason: "goodwill", ExpiresAt: day(10)})
	wantErr(t, "credit", err, nil, "")
	if res.Balance != (ledger.Balance{Available: 70, LifetimeEarned: 70}) {
		t.Fatalf("credit %+v", res)
	}
	tests := []struct {
		name  string
		req   ledger.AdjustRequest
		err   error
		field string
	}{
		{"debit", ledger.AdjustRequest{IdempotencyKey: "a2", MemberID: "m1", Points: -20, Reason: "correction"}, nil, ""},
		{"debit below zero", ledger.AdjustRequest{IdempotencyKey: "a3", MemberID: "m1", Points: -51, Reason: "correction"}, ledger.ErrInsufficientPoints, ""},
		{"no reason", ledger.AdjustRequest{IdempotencyKey: "a4", MemberID: "m1", Points: 5}, ledger.ErrInvalidRequest, "reason"},
		{"zero", ledger.AdjustRequest{IdempotencyKey: "a5", MemberID: "m1", Reason: "x"}, ledger.ErrInvalidRequest, "points"},
		{"expiry on a debit", ledger.AdjustRequest{IdempotencyKey: "a6", MemberID: "m1", Points: -1, Reason: "x", ExpiresAt: day(1)}, ledger.ErrInvalidRequest, "expiresAt"},
		{"unknown member", ledger.AdjustRequest{IdempotencyKey: "a7", MemberID: "nobody", Points: 1, Reason: "x"}, ledger.ErrMemberNotFound, ""},
		{"debit to zero", ledger.AdjustRequest{IdempotencyKey: "a8", MemberID: "m1", Points: -50, Reason: "correction"}, nil, ""},
		{"credit without expiry", ledger.AdjustRequest{IdempotencyKey: "a9", MemberID: "m1", Points: 5, Reason: "x"}, nil, ""},
	}
	for _, tc := range tests {
		_, err := s.Adjust(ctx, tc.req)
		wantErr(t, tc.name, err, tc.err, tc.field)
	}
	wantBalance(t, s, "m1", 5, 0, 75)
	if r := processDue(t, s, day(11)); r.ExpiredPoints != 0 {
		t.Fatalf("the expiring lot was spent, got %+v", r)
	}
	h := allHistory(t, s, "m1")
	if len(h) != 4 || h[0].Kind != ledger.EntryAdjust || h[0].Available != 5 || h[1].Available != -50 || h[1].Reason != "correction" {
		t.Fatalf("history %+v", h)
	}
}

func testHistory(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	enroll(t, s, "m2")
	for i := range 7 {
		earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: key("o", i), Points: int64(i + 1)})
		earn(t, s, ledger.EarnRequest{MemberID: "m2", EventID: key("o", i), Points: 1})
	}
	var got []int64
	q := ledger.HistoryQuery{MemberID: "m1", Limit: 3}
	var pages int
	for {
		page, err := s.History(ctx, q)
		wantErr(t, "history", err, nil, "")
		pages++
		for _, e := range page.Entries {
			if e.MemberID != "m1" || e.Kind != ledger.EntryEarn {
				t.Fatalf("entry %+v", e)
			}
			got = append(got, e.Available)
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	if want := []int64{7, 6, 5, 4, 3, 2, 1}; !reflect.DeepEqual(got, want) || pages != 3 {
		t.Fatalf("history %v in %d pages, want %v in 3", got, pages, want)
	}
	page, err := s.History(ctx, ledger.HistoryQuery{MemberID: "m1"})
	if err != nil || len(page.Entries) != 7 || page.NextCursor != "" {
		t.Fatalf("default page: %d entries, cursor %q, %v", len(page.Entries), page.NextCursor, err)
	}

	enroll(t, s, "m3")
	if page, err := s.History(ctx, ledger.HistoryQuery{MemberID: "m3"}); err != nil || len(page.Entries) != 0 {
		t.Fatalf("empty history: %+v %v", page, err)
	}
	tests := []struct {
		name  string
		q     ledger.HistoryQuery
		err   error
		field string
	}{
		{"unknown member", ledger.HistoryQuery{MemberID: "nobody"}, ledger.ErrMemberNotFound, ""},
		{"bad cursor", ledger.HistoryQuery{MemberID: "m1", Cursor: "!!"}, ledger.ErrInvalidRequest, "cursor"},
		{"limit too large", ledger.HistoryQuery{MemberID: "m1", Limit: ledger.MaxHistoryLimit + 1}, ledger.ErrInvalidRequest, "limit"},
		{"negative limit", ledger.HistoryQuery{MemberID: "m1", Limit: -1}, ledger.ErrInvalidRequest, "limit"},
		{"no member", ledger.HistoryQuery{}, ledger.ErrInvalidRequest, "memberId"},
	}
	for _, tc := range tests {
		_, err := s.History(ctx, tc.q)
		wantErr(t, tc.name, err, tc.err, tc.field)
	}
}

// testLargeResultReplay replays an earn whose result is large (an
// explanation listing many campaigns, which the store keeps compressed)
// through each path a replay takes: a single earn, a batch, and the
// read-side lookup, each answering the original result.
func testLargeResultReplay(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	req := ledger.EarnRequest{IdempotencyKey: "large", Fingerprint: "fp-large", MemberID: "m1", EventID: "o1", Points: 110,
		Campaigns: []ledger.CampaignBonus{{Campaign: "spring", Attributed: 10}}, Explanation: largeExplanation("spring", 100, 10)}
	res := earn(t, s, req)
	want, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 2048 { // kept compressed: well over the store's 1 KB threshold
		t.Fatalf("result is only %d bytes; the test wants a large one", len(want))
	}
	same := func(path string, got ledger.EarnResult) {
		t.Helper()
		if !got.Replayed {
			t.Fatalf("%s: not a replay: %+v", path, got)
		}
		got.Replayed = false
		if b, _ := json.Marshal(got); !bytes.Equal(b, want) {
			t.Fatalf("%s replayed\n%s\nwant\n%s", path, b, want)
		}
	}
	again, err := s.Earn(ctx, req)
	wantErr(t, "replay", err, nil, "")
	same("earn", again)
	batch, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: []ledger.EarnRequest{req}})
	if err != nil || len(batch.Items) != 1 || batch.Items[0].Result == nil {
		t.Fatalf("batch replay: %+v %v", batch, err)
	}
	same("batch", *batch.Items[0].Result)
	answers, err := s.Replay(ctx, []ledger.ReplayQuery{{Key: "large", Fingerprint: "fp-large"}})
	if err != nil || len(answers) != 1 || !answers[0].Found {
		t.Fatalf("replay lookup: %+v %v", answers, err)
	}
	if !bytes.Equal(answers[0].Result, want) {
		t.Fatalf("replay lookup answered\n%s\nwant\n%s", answers[0].Result, want)
	}
}

// largeExplanation is bonusExplanation followed by 40 campaigns that did
// not apply, with names and messages that need escaping: a result of
// several KB.
func largeExplanation(campaign string, base, attributed int64) *rules.Explanation {
	ex := bonusExplanation(campaign, base, attributed)
	for i := range 40 {
		ex.Campaigns = append(ex.Campaigns, rules.CampaignExplanation{
			Name: key("summer-<&>", i), DisplayName: "Summer \u2028 é", Stacking: config.StackingStack, Priority: int32(i),
			Reason: rules.ReasonOutsideWindow, Message: "the event is outside every window of the campaign"})
	}
	return ex
}
