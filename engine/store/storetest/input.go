package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// unstorable are texts PostgreSQL cannot store and SQLite could: every
// store must refuse them alike.
var unstorable = []struct{ name, v string }{
	{"NUL", "a\x00b"},
	{"invalid UTF-8", "jos\xe9"},
}

// testUnstorableText: NUL or invalid UTF-8 in any id, key or text of a
// write or read is a FieldError naming it, and nothing is written.
func testUnstorableText(t *testing.T, s ledger.Ledger) {
	for _, bad := range unstorable {
		v := bad.v
		enrollWith := func(f func(*ledger.EnrollRequest)) error {
			r := ledger.EnrollRequest{IdempotencyKey: "k", MemberID: "m1"}
			f(&r)
			_, err := s.Enroll(ctx, r)
			return err
		}
		earnWith := func(f func(*ledger.EarnRequest)) error {
			r := ledger.EarnRequest{IdempotencyKey: "k", MemberID: "m1", EventID: "e1", Points: 10}
			f(&r)
			_, err := s.Earn(ctx, r)
			return err
		}
		earnBatchWith := func(f func(*ledger.EarnRequest)) error {
			r := ledger.EarnRequest{IdempotencyKey: "k", MemberID: "m1", EventID: "e1", Points: 10}
			f(&r)
			res, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: []ledger.EarnRequest{r}})
			if err != nil {
				return err
			}
			return res.Items[0].Err
		}
		redeemWith := func(f func(*ledger.RedeemRequest)) error {
			r := ledger.RedeemRequest{IdempotencyKey: "k", MemberID: "m1", Points: 1}
			f(&r)
			_, err := s.Redeem(ctx, r)
			return err
		}
		cases := []struct {
			what  string
			do    func() error
			field string
		}{
			{"enroll memberId", func() error { return enrollWith(func(r *ledger.EnrollRequest) { r.MemberID = v }) }, "memberId"},
			{"enroll idempotencyKey", func() error { return enrollWith(func(r *ledger.EnrollRequest) { r.IdempotencyKey = v }) }, "idempotencyKey"},
			{"enroll tag", func() error { return enrollWith(func(r *ledger.EnrollRequest) { r.Tags = []string{"vip", v} }) }, "tags[1]"},
			{"enroll referralCode", func() error {
				return enrollWith(func(r *ledger.EnrollRequest) { r.ReferralCode, r.Referral = v, referralPolicy(5) })
			}, "referralCode"},
			{"earn memberId", func() error { return earnWith(func(r *ledger.EarnRequest) { r.MemberID = v }) }, "memberId"},
			{"earn idempotencyKey", func() error { return earnWith(func(r *ledger.EarnRequest) { r.IdempotencyKey = v }) }, "idempotencyKey"},
			{"earn eventId", func() error { return earnWith(func(r *ledger.EarnRequest) { r.EventID = v }) }, "eventId"},
			{"earn action", func() error { return earnWith(func(r *ledger.EarnRequest) { r.Action = v }) }, "action"},
			{"earn currency", func() error { return earnWith(func(r *ledger.EarnRequest) { r.Currency = v }) }, "currency"},
			{"earn campaign", func() error {
				return earnWith(func(r *ledger.EarnRequest) { r.Campaigns = []ledger.CampaignBonus{{Campaign: v, Attributed: 5}} })
			}, "campaigns[0].campaign"},
			{"batch earn memberId", func() error { return earnBatchWith(func(r *ledger.EarnRequest) { r.MemberID = v }) }, "memberId"},
			{"batch earn idempotencyKey", func() error { return earnBatchWith(func(r *ledger.EarnRequest) { r.IdempotencyKey = v }) }, "idempotencyKey"},
			{"redeem memberId", func() error { return redeemWith(func(r *ledger.RedeemRequest) { r.MemberID = v }) }, "memberId"},
			{"redeem reference", func() error { return redeemWith(func(r *ledger.RedeemRequest) { r.Reference = v }) }, "reference"},
			{"redeem reason", func() error { return redeemWith(func(r *ledger.RedeemRequest) { r.Reason = v }) }, "reason"},
			{"reverse eventId", func() error {
				_, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "k", MemberID: "m1", EventID: v})
				return err
			}, "eventId"},
			{"adjust reason", func() error {
				_, err := s.Adjust(ctx, ledger.AdjustRequest{IdempotencyKey: "k", MemberID: "m1", Points: 5, Reason: v})
				return err
			}, "reason"},
			{"redeem reward rewardId", func() error { _, err := redeemReward(s, "k", "m1", v); return err }, "rewardId"},
			{"cancel code", func() error {
				_, err := s.CancelRedemption(ctx, ledger.CancelRedemptionRequest{IdempotencyKey: "k", Code: v})
				return err
			}, "code"},
			{"cancel reason", func() error {
				_, err := s.CancelRedemption(ctx, ledger.CancelRedemptionRequest{IdempotencyKey: "k", Code: "C0DE", Reason: v})
				return err
			}, "reason"},
			{"member", func() error { _, err := s.Member(ctx, v, time.Time{}); return err }, "memberId"},
			{"history", func() error { _, err := s.History(ctx, ledger.HistoryQuery{MemberID: v}); return err }, "memberId"},
			{"redemptions", func() error { _, err := s.Redemptions(ctx, v); return err }, "memberId"},
			{"tier status", func() error { _, err := s.TierStatus(ctx, v, nil, t0); return err }, "memberId"},
			{"evaluate tier", func() error { _, err := s.EvaluateTier(ctx, ledger.TierRequest{MemberID: v, Now: t0}); return err }, "memberId"},
			{"pricing context", func() error {
				_, err := pricingContext(s, ledger.PricingQuery{MemberID: v, OccurredAt: t0})
				return err
			}, "memberId"},
		}
		for _, c := range cases {
			wantErr(t, bad.name+" in "+c.what, c.do(), ledger.ErrInvalidRequest, c.field)
		}
		// No write could have stored such a key, so a retry is not known.
		a, err := s.Replay(ctx, []ledger.ReplayQuery{{Key: v, Fingerprint: "f"}})
		if err != nil || a[0].Found {
			t.Fatalf("replay of a key with %s: %+v %v", bad.name, a, err)
		}
	}
	wantEmpty(t, s)
}

// wantEmpty fails unless the store holds no record at all.
func wantEmpty(t testing.TB, s ledger.Ledger) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := s.Export(ctx, &buf, ledger.ExportOptions{})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	for typ, n := range sum.Counts {
		if n != 0 {
			t.Errorf("the store holds %d %s records, want none:\n%s", n, typ, buf.String())
		}
	}
}

// testImportUnstorableText: an export stream with NUL or invalid UTF-8 in
// a record is refused naming its line and field, and loads nothing.
func testImportUnstorableText(t *testing.T, s ledger.Ledger) {
	// The stream of a store holding one member, m1, on its line 2.
	src := []string{
		`{"type":"header","format":"` + ledger.ExportFormat + `","version":1,"exportId":"x1","exportedAt":"2026-12-05T10:00:00Z","dialect":"sqlite","schemaVersion":1}`,
		`{"type":"member","id":"m1","tags":["vip"],"enrolledAt":"2026-12-01T10:00:00Z","available":0,"pending":0,"lifetimeEarned":0,"lastActivityAt":"2026-12-01T10:00:00Z","tier":"","referralCode":"CODE1"}`,
	}
	for _, tc := range []struct {
		name, old, new, field string
	}{
		{"NUL in an id", `"id":"m1"`, `"id":"m\u0000"`, "line 2: id"},
		{"NUL in a tag", `["vip"]`, `["vip","v\u0000"]`, "line 2: tags[1]"},
		{"invalid UTF-8 in an id", `"id":"m1"`, "\"id\":\"jos\xe9\"", "line 2: id"},
		{"a name given twice", `"tier":""`, `"tier":"","tier":"gold"`, "line 2: tier"},
		{"a name in another case", `"tier":""`, `"TIER":""`, "line 2: TIER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := []string{src[0], strings.Replace(src[1], tc.old, tc.new, 1)}
			_, err := s.Import(ctx, bytes.NewReader(signed(t, lines, map[string]int64{ledger.RecordMember: 1})))
			var fe *ledger.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("import: %v, want a field error on %q", err, tc.field)
			}
		})
	}
	wantEmpty(t, s)
	// The stream as it was imports.
	if _, err := s.Import(ctx, bytes.NewReader(signed(t, src, map[string]int64{ledger.RecordMember: 1}))); err != nil {
		t.Fatalf("import of the stream unaltered: %v", err)
	}
}

// signed ends lines (a header and records) with a trailer matching them.
func signed(t testing.TB, lines []string, counts map[string]int64) []byte {
	t.Helper()
	body := []byte(strings.Join(lines, "\n") + "\n")
	sum := sha256.Sum256(body)
	tr, err := json.Marshal(ledger.ExportTrailer{Type: ledger.RecordTrailer, Counts: counts, SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	return append(body, append(tr, '\n')...)
}

// testTimes: an enrolment in the future (beyond the clock skew), a time
// before 1970 and an adjustment whose points would expire at once are
// refused naming the field, and write nothing.
func testTimes(t *testing.T, s ledger.Ledger) {
	now := time.Now()
	old := time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)
	cases := []struct {
		what  string
		do    func() error
		field string
	}{
		{"enrolled in 2099", func() error {
			_, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "e1", MemberID: "m1", EnrolledAt: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)})
			return err
		}, "enrolledAt"},
		{"enrolled an hour ahead", func() error {
			_, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "e2", MemberID: "m1", EnrolledAt: now.Add(time.Hour)})
			return err
		}, "enrolledAt"},
		{"enrolled before 1970", func() error {
			_, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "e3", MemberID: "m1", EnrolledAt: old})
			return err
		}, "enrolledAt"},
		{"adjustment expired already", func() error {
			_, err := s.Adjust(ctx, ledger.AdjustRequest{IdempotencyKey: "a1", MemberID: "m1", Points: 5, Reason: "x", ExpiresAt: now.Add(-time.Minute)})
			return err
		}, "expiresAt"},
		{"adjustment expiring before 1970", func() error {
			_, err := s.Adjust(ctx, ledger.AdjustRequest{IdempotencyKey: "a2", MemberID: "m1", Points: 5, Reason: "x", ExpiresAt: old})
			return err
		}, "expiresAt"},
		{"earn before 1970", func() error {
			_, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "o1", MemberID: "m1", EventID: "o1", Points: 5, OccurredAt: old})
			return err
		}, "occurredAt"},
	}
	for _, c := range cases {
		wantErr(t, c.what, c.do(), ledger.ErrInvalidRequest, c.field)
	}
	wantEmpty(t, s)
	// Within the clock skew an enrolment is taken as it is.
	ahead := now.Add(2 * time.Minute).UTC().Truncate(time.Microsecond)
	res, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "e4", MemberID: "m1", EnrolledAt: ahead})
	if err != nil || !res.Member.EnrolledAt.Equal(ahead) {
		t.Fatalf("enrolled 2 minutes ahead: %+v %v", res, err)
	}
}

// testAdjustReplayAfterExpiry: an adjustment retried once its points have
// expired replays the original rather than being refused as expiring in
// the past.
func testAdjustReplayAfterExpiry(t *testing.T, s ledger.Ledger, setClock func(time.Time)) {
	enroll(t, s, "m1")
	req := ledger.AdjustRequest{IdempotencyKey: "a1", MemberID: "m1", Points: 5, Reason: "goodwill", ExpiresAt: t0.Add(time.Hour)}
	first, err := s.Adjust(ctx, req)
	if err != nil {
		t.Fatalf("adjust: %v", err)
	}
	setClock(t0.Add(2 * time.Hour))
	again, err := s.Adjust(ctx, req)
	if err != nil || !again.Replayed || again.EntrySeq != first.EntrySeq {
		t.Fatalf("the retry after expiry: %+v %v, want the original %+v replayed", again, err, first)
	}
	req.IdempotencyKey = "a2"
	_, err = s.Adjust(ctx, req)
	wantErr(t, "a new adjustment expiring in the past", err, ledger.ErrInvalidRequest, "expiresAt")
}

// testRefusedRedemptionWritesNothing: a catalog redemption refused for an
// unknown member or too few points leaves no stock row behind, so a new
// store that only refused requests still takes an import.
func testRefusedRedemptionWritesNothing(t *testing.T, s ledger.Ledger) {
	for _, reward := range []string{"mug", "coffee", "yacht"} {
		_, err := redeemReward(s, "r-"+reward, "nobody", reward)
		wantErr(t, "redeem "+reward+" for nobody", err, ledger.ErrMemberNotFound, "")
	}
	wantEmpty(t, s)
	stream := signed(t, []string{
		`{"type":"header","format":"` + ledger.ExportFormat + `","version":1,"exportId":"x1","exportedAt":"2026-12-05T10:00:00Z","dialect":"sqlite","schemaVersion":1}`,
		`{"type":"member","id":"m1","tags":[],"enrolledAt":"2026-12-01T10:00:00Z","available":0,"pending":0,"lifetimeEarned":0}`,
	}, map[string]int64{ledger.RecordMember: 1})
	if _, err := s.Import(ctx, bytes.NewReader(stream)); err != nil {
		t.Fatalf("import after refused redemptions: %v", err)
	}
	_, err := redeemReward(s, "r-poor", "m1", "mug")
	wantErr(t, "redeem a mug with no points", err, ledger.ErrInsufficientPoints, "")
	var buf bytes.Buffer
	if sum, err := s.Export(ctx, &buf, ledger.ExportOptions{}); err != nil || sum.Counts[ledger.RecordRewardStock] != 0 {
		t.Fatalf("after a redemption refused for too few points: %v\n%s", err, buf.String())
	}
}
