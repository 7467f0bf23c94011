package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

func patchMember(t testing.TB, s ledger.Ledger, req ledger.PatchMemberRequest) ledger.PatchMemberResult {
	t.Helper()
	if req.Actor == "" {
		req.Actor = "key-test"
	}
	res, err := s.PatchMember(ctx, req)
	if err != nil {
		t.Fatalf("patch %+v: %v", req, err)
	}
	return res
}

// testPatchMember: a patch is read back, replayed, recorded in the
// profile history, and a refused one writes nothing.
func testPatchMember(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	city, year := "Seoul", 1990
	res := patchMember(t, s, ledger.PatchMemberRequest{IdempotencyKey: "p1", MemberID: "m1", Tags: &[]string{"vip", "app"},
		Attributes: map[string]*string{"city": &city}, BirthDate: &ledger.BirthDate{Month: 2, Day: 29, Year: ptr(1992)},
		Consents: map[string]bool{"email": true, "sms": false}})
	want := []string{"attributes.city", "birthDate", "consents.email", "consents.sms", "tags"}
	if !slices.Equal(res.Changed, want) || res.Replayed {
		t.Fatalf("patch: %+v, want changed %v", res, want)
	}
	v := member(t, s, "m1", t0)
	if !slices.Equal(v.Tags, []string{"app", "vip"}) || v.Attributes["city"] != "Seoul" || v.BirthDate == nil ||
		*v.BirthDate.Year != 1992 || !v.Consents["email"].Granted || v.Consents["sms"].Granted || !v.Consents["email"].At.Equal(res.At) {
		t.Fatalf("member after the patch: %+v", v)
	}
	again, err := s.PatchMember(ctx, ledger.PatchMemberRequest{IdempotencyKey: "p1", MemberID: "m1", Actor: "key-test", Tags: &[]string{"vip", "app"},
		Attributes: map[string]*string{"city": &city}, BirthDate: &ledger.BirthDate{Month: 2, Day: 29, Year: ptr(1992)},
		Consents: map[string]bool{"email": true, "sms": false}})
	if err != nil || !again.Replayed || !slices.Equal(again.Changed, want) {
		t.Fatalf("replay: %+v, %v", again, err)
	}
	// A refused patch (a birth date that does not exist) writes nothing.
	_, err = s.PatchMember(ctx, ledger.PatchMemberRequest{IdempotencyKey: "p2", MemberID: "m1", Actor: "key-test",
		Tags: &[]string{"x"}, BirthDate: &ledger.BirthDate{Month: 2, Day: 29, Year: &year}})
	var fe *ledger.FieldError
	if !errors.As(err, &fe) || fe.Field != "birthDate.day" {
		t.Fatalf("29 February 1990: %v, want a FieldError on birthDate.day", err)
	}
	// Deleting an attribute, clearing the birth date, withdrawing consent.
	res = patchMember(t, s, ledger.PatchMemberRequest{IdempotencyKey: "p3", MemberID: "m1", Actor: "key-other",
		Attributes: map[string]*string{"city": nil, "absent": nil}, ClearBirthDate: true, Consents: map[string]bool{"email": false, "sms": false}})
	if want := []string{"attributes.city", "birthDate", "consents.email"}; !slices.Equal(res.Changed, want) {
		t.Fatalf("second patch changed %v, want %v", res.Changed, want)
	}
	v = member(t, s, "m1", t0)
	if len(v.Attributes) != 0 || v.BirthDate != nil || v.Consents["email"].Granted || !slices.Equal(v.Tags, []string{"app", "vip"}) {
		t.Fatalf("member after the second patch: %+v", v)
	}
	// A patch that changes nothing is not a change.
	patchMember(t, s, ledger.PatchMemberRequest{IdempotencyKey: "p4", MemberID: "m1", Tags: &[]string{"vip", "app"}})
	hist, err := s.ProfileHistory(ctx, "m1")
	if err != nil || len(hist) != 2 || hist[0].Actor != "key-test" || hist[1].Actor != "key-other" || hist[0].Op != "patch" ||
		!slices.Equal(hist[0].Fields, want) {
		t.Fatalf("history: %+v, %v", hist, err)
	}
	if _, err := s.PatchMember(ctx, ledger.PatchMemberRequest{IdempotencyKey: "p5", MemberID: "nobody", Tags: &[]string{}}); !errors.Is(err, ledger.ErrMemberNotFound) {
		t.Fatalf("patch of an unknown member: %v, want ErrMemberNotFound", err)
	}
	if _, err := s.ProfileHistory(ctx, "nobody"); !errors.Is(err, ledger.ErrMemberNotFound) {
		t.Fatalf("history of an unknown member: %v, want ErrMemberNotFound", err)
	}
}

// testPricedTags: an earn priced with tags a patch changed since is
// refused, to be priced again with the new tags.
func testPricedTags(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	st := pricingState(t, s, "m1")
	first := st.TagsRev
	if len(st.Member.Tags) != 0 {
		t.Fatalf("pricing before the patch: %+v", st)
	}
	patchMember(t, s, ledger.PatchMemberRequest{IdempotencyKey: "p1", MemberID: "m1", Tags: &[]string{"vip"}})
	_, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "e1", MemberID: "m1", EventID: "o1", Points: 10, PricedTagsRev: &st.TagsRev})
	if !errors.Is(err, ledger.ErrTagsChanged) || !errors.Is(err, ledger.ErrTierChanged) {
		t.Fatalf("earn priced with the old tags: %v, want ErrTagsChanged", err)
	}
	st = pricingState(t, s, "m1")
	if st.TagsRev != first+1 || !slices.Equal(st.Member.Tags, []string{"vip"}) {
		t.Fatalf("pricing after the patch: %+v", st)
	}
	earn(t, s, ledger.EarnRequest{IdempotencyKey: "e1", MemberID: "m1", EventID: "o1", Points: 10, PricedTagsRev: &st.TagsRev})
	// A patch of the attributes alone leaves the tags' revision.
	v := "x"
	patchMember(t, s, ledger.PatchMemberRequest{IdempotencyKey: "p2", MemberID: "m1", Attributes: map[string]*string{"a": &v}})
	earn(t, s, ledger.EarnRequest{IdempotencyKey: "e2", MemberID: "m1", EventID: "o2", Points: 10, PricedTagsRev: &st.TagsRev})
}

func pricingState(t *testing.T, s ledger.Ledger, id string) ledger.PricingState {
	t.Helper()
	st, err := s.PricingContexts(ctx, []ledger.PricingQuery{{MemberID: id}})
	if err != nil || st[0].Err != nil {
		t.Fatalf("pricing %s: %v %+v", id, err, st)
	}
	return st[0]
}

// eraseFixture enrolls the member to erase, with a profile, a referrer
// and a referee, earns, a redemption, a reward and a tier upgrade.
func eraseFixture(t *testing.T, s ledger.Ledger, id string) {
	t.Helper()
	p := referralPolicy(5)
	enroll(t, s, "ref")
	if _, err := enrollReferred(s, id, referralCode(t, s, "ref"), p); err != nil {
		t.Fatal(err)
	}
	if _, err := enrollReferred(s, "kid", referralCode(t, s, id), p); err != nil {
		t.Fatal(err)
	}
	email := "erase.me@example.com"
	patchMember(t, s, ledger.PatchMemberRequest{IdempotencyKey: "profile-" + id, MemberID: id, Tags: &[]string{"vip"},
		Attributes: map[string]*string{"email": &email}, BirthDate: &ledger.BirthDate{Month: 7, Day: 4}, Consents: map[string]bool{"email": true}})
	purchase(t, s, id, "p1", 5000, 50, p)
	purchase(t, s, "kid", "p1", 3000, 30, p)
	earn(t, s, ledger.EarnRequest{MemberID: id, EventID: "o2", Points: 400, Tiers: portabilityTiers,
		Campaigns: []ledger.CampaignBonus{{Campaign: "spring", Attributed: 10, Budget: ptr(int64(100))}}})
	redeem(t, s, id, "redeem-"+id, 30)
	if _, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "reverse-" + id, MemberID: id, EventID: "o2", Points: 20}); err != nil {
		t.Fatal(err)
	}
}

// testEraseMember: erasure moves no balance or KPI, leaves no trace of the
// id or the profile in the export, is idempotent, and frees the id.
func testEraseMember(t *testing.T, s ledger.Ledger) {
	const id = "zoe-erasable"
	eraseFixture(t, s, id)
	city := "Daegu"
	cityPatch := ledger.PatchMemberRequest{IdempotencyKey: "opaque-key", MemberID: id, Actor: "key-test", Attributes: map[string]*string{"city": &city}}
	patchMember(t, s, cityPatch)
	birthday := ledger.BirthdayRule{Points: 40, Window: config.LimitDay}
	if r := grantBirthday(t, s, id, birthday, at("2026-07-04T10:00:00Z")); !r.Granted {
		t.Fatalf("birthday before the erasure: %+v", r)
	}
	before := member(t, s, id, t0)
	kpisBefore := aggregates(t, s)
	spendBefore, err := s.CampaignSpend(ctx)
	if err != nil {
		t.Fatal(err)
	}

	res, err := s.EraseMember(ctx, ledger.EraseMemberRequest{IdempotencyKey: "erase-1", MemberID: id, Actor: "key-admin"})
	if err != nil || !res.Erased || res.Replayed {
		t.Fatalf("erase: %+v, %v", res, err)
	}
	CheckInvariants(t, s)
	// Compared as JSON, as the API shows them.
	if k := aggregates(t, s); asJSON(t, k) != asJSON(t, kpisBefore) {
		t.Errorf("KPIs moved:\n before %+v\n after  %+v", kpisBefore, k)
	}
	if sp, err := s.CampaignSpend(ctx); err != nil || !reflect.DeepEqual(sp, spendBefore) {
		t.Errorf("campaign spend %v, %v; before %v", sp, err, spendBefore)
	}
	if _, err := s.Member(ctx, id, t0); !errors.Is(err, ledger.ErrMemberNotFound) {
		t.Fatalf("old id after erasure: %v, want ErrMemberNotFound", err)
	}
	if ref := member(t, s, "ref", t0); ref.ReferralsMade != 1 || ref.ReferralsConverted != 1 {
		t.Errorf("the referrer's referrals after erasure: %+v", ref)
	}
	stream, _ := export(t, s)
	for _, trace := range []string{id, "erase.me@example.com"} {
		for line := range strings.SplitSeq(string(stream), "\n") {
			if strings.Contains(line, trace) {
				t.Errorf("the export still holds %q: %s", trace, line)
			}
		}
	}
	pseudo := erasedMember(t, stream)
	checkErasedOutbox(t, s, id, pseudo)
	v := member(t, s, pseudo, t0)
	if v.Balance != before.Balance || v.ErasedAt == nil || len(v.Tags) != 0 || len(v.Attributes) != 0 || v.BirthDate != nil ||
		len(v.Consents) != 0 || v.ReferralCode != "" || v.Tier != before.Tier || v.ReferralsConverted != 1 {
		t.Errorf("the pseudonym's member: %+v, before %+v", v, before)
	}
	if _, err := s.PatchMember(ctx, ledger.PatchMemberRequest{IdempotencyKey: "p-erased", MemberID: pseudo, Tags: &[]string{"x"}}); !errors.Is(err, ledger.ErrMemberErased) {
		t.Errorf("patch of an erased member: %v, want ErrMemberErased", err)
	}
	if h, err := s.ProfileHistory(ctx, pseudo); err != nil || len(h) != 3 || h[2].Op != "erase" || h[2].Actor != "key-admin" {
		t.Errorf("the pseudonym's history: %+v, %v", h, err)
	}

	// The member's earlier requests are not answered with the pseudonym:
	// a key naming the id is unknown now, any other is refused.
	if _, err := s.PatchMember(ctx, cityPatch); !errors.Is(err, ledger.ErrIdempotencyReuse) {
		t.Errorf("an earlier patch retried: %v, want ErrIdempotencyReuse", err)
	}
	if _, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: "redeem-" + id, MemberID: id, Points: 30}); !errors.Is(err, ledger.ErrMemberNotFound) {
		t.Errorf("an earlier redemption retried: %v, want ErrMemberNotFound", err)
	}

	// Idempotent: the same key replays, another key answers the same.
	replay, err := s.EraseMember(ctx, ledger.EraseMemberRequest{IdempotencyKey: "erase-1", MemberID: id, Actor: "key-admin"})
	if err != nil || !replay.Replayed || !replay.ErasedAt.Equal(res.ErasedAt) {
		t.Fatalf("erase replayed: %+v, %v", replay, err)
	}
	again, err := s.EraseMember(ctx, ledger.EraseMemberRequest{IdempotencyKey: "erase-2", MemberID: id, Actor: "key-admin"})
	if err != nil || again.Replayed || !again.ErasedAt.Equal(res.ErasedAt) {
		t.Fatalf("erase again: %+v, %v; first %+v", again, err, res)
	}
	if _, err := s.EraseMember(ctx, ledger.EraseMemberRequest{IdempotencyKey: "erase-3", MemberID: "never-enrolled"}); !errors.Is(err, ledger.ErrMemberNotFound) {
		t.Fatalf("erase of an id never enrolled: %v, want ErrMemberNotFound", err)
	}

	// The id is free: enrolled again, it is a new member.
	if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "enroll-again", MemberID: id}); err != nil {
		t.Fatalf("enroll the erased id again: %v", err)
	}
	if v := member(t, s, id, t0); v.Balance != (ledger.Balance{}) || len(v.Attributes) != 0 || v.Tier != "" {
		t.Fatalf("the id enrolled again: %+v", v)
	}
	earn(t, s, ledger.EarnRequest{IdempotencyKey: "again-o1", MemberID: id, EventID: "o1", Points: 5})
	// The erased member's birthday grant went to the pseudonym: the new
	// member of the id has a birthday of their own.
	patchMember(t, s, ledger.PatchMemberRequest{IdempotencyKey: "born-again", MemberID: id, BirthDate: &ledger.BirthDate{Month: 7, Day: 4}})
	if r := grantBirthday(t, s, id, birthday, at("2026-07-04T11:00:00Z")); !r.Granted {
		t.Errorf("the new member of an erased id was refused its birthday: %+v", r)
	}
}

// checkErasedOutbox: once id is erased, the one event of the outbox that
// names it is member.erased, for subscribers to erase it too; its earlier
// events (two patches, a referral each way) name the pseudonym.
func checkErasedOutbox(t *testing.T, s ledger.Ledger, id, pseudo string) {
	t.Helper()
	var erased, updated int
	var naming []string
	for _, ev := range allEvents(t, outboxOf(t, s), 1) {
		switch {
		case ev.Type == ledger.EventMemberErased && ev.MemberID == id:
			erased++
		case ev.MemberID == id || strings.Contains(string(ev.Data), `"`+id+`"`):
			t.Errorf("event %d (%s of %s) still names the erased id: %s", ev.Seq, ev.Type, ev.MemberID, ev.Data)
		case ev.Type == ledger.EventMemberUpdated && ev.MemberID == pseudo:
			updated++
		}
		if strings.Contains(string(ev.Data), pseudo) {
			naming = append(naming, string(ev.Type)+" of "+ev.MemberID)
		}
	}
	// Naming the pseudonym in their data: the enrolment and the conversion
	// of the member it referred, and the two rewards of its own referral.
	want := []string{"member.enrolled of kid", "points.earned of ref", "points.earned of " + pseudo, "referral.converted of kid"}
	slices.Sort(naming)
	slices.Sort(want)
	if erased != 1 || updated != 2 || !slices.Equal(naming, want) {
		t.Errorf("after erasure: %d member.erased of the id (want 1), %d member.updated of the pseudonym (want 2), events naming it in their data %q (want %q)",
			erased, updated, naming, want)
	}
}

// erasedMember is the id of the one erased member of an export stream.
func erasedMember(t *testing.T, stream []byte) string {
	t.Helper()
	for line := range strings.SplitSeq(string(stream), "\n") {
		if strings.Contains(line, `"type":"member"`) && strings.Contains(line, `"erasedAt"`) {
			_, rest, _ := strings.Cut(line, `"id":"`)
			id, _, _ := strings.Cut(rest, `"`)
			return id
		}
	}
	t.Fatal("no erased member in the export")
	return ""
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func aggregates(t *testing.T, s ledger.Ledger) rules.Aggregates {
	t.Helper()
	a, err := s.Aggregates(ctx, day(-400), day(400))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// testConcurrentProfiles: 64 writers patch and earn on the same and on
// different members while one member is erased: every earn is either
// applied (under the id or the pseudonym) or refused as not found after
// the erasure, and the balances add up.
func testConcurrentProfiles(t *testing.T, s ledger.Ledger) {
	const members, writers = 4, 64
	for m := range members {
		enroll(t, s, key("m", m))
	}
	var mu sync.Mutex
	var earned int64
	var wg sync.WaitGroup
	for w := range writers {
		id := key("m", w%members)
		wg.Go(func() {
			if w == writers/2 {
				if _, err := s.EraseMember(ctx, ledger.EraseMemberRequest{IdempotencyKey: "erase", MemberID: "m0", Actor: "key-admin"}); err != nil {
					t.Errorf("erase: %v", err)
				}
				return
			}
			v := key("v", w)
			_, err := s.PatchMember(ctx, ledger.PatchMemberRequest{IdempotencyKey: key("p", w), MemberID: id, Actor: "key-test",
				Tags: &[]string{key("t", w)}, Attributes: map[string]*string{"writer": &v}, Consents: map[string]bool{"push": w%2 == 0}})
			if err != nil && !(id == "m0" && errors.Is(err, ledger.ErrMemberNotFound)) {
				t.Errorf("patch %s by %d: %v", id, w, err)
			}
			_, err = s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: key("e", w), MemberID: id, EventID: key("o", w), Points: int64(w + 1)})
			switch {
			case err == nil:
				mu.Lock()
				earned += int64(w + 1)
				mu.Unlock()
			case id == "m0" && errors.Is(err, ledger.ErrMemberNotFound):
			default:
				t.Errorf("earn %s by %d: %v", id, w, err)
			}
		})
	}
	wg.Wait()
	CheckInvariants(t, s)
	if a := aggregates(t, s); a.OutstandingAvailable != earned || a.PointsIssued != earned {
		t.Fatalf("outstanding %d, issued %d; earns applied %d", a.OutstandingAvailable, a.PointsIssued, earned)
	}
	if _, err := s.Member(ctx, "m0", t0); !errors.Is(err, ledger.ErrMemberNotFound) {
		t.Fatalf("m0 after erasure: %v", err)
	}
	for m := 1; m < members; m++ {
		h, err := s.ProfileHistory(ctx, key("m", m))
		if err != nil || len(h) == 0 {
			t.Fatalf("history of m%d: %+v, %v", m, h, err)
		}
	}
}

// ProfileRoundTrip exports a store holding profiles and an erased member,
// imports it into a store of to and checks that the profiles and the
// erased member came across.
func ProfileRoundTrip(t *testing.T, from, to Factory) {
	src, dst := from(t), to(t)
	eraseFixture(t, src, "gone")
	if _, err := src.EraseMember(ctx, ledger.EraseMemberRequest{IdempotencyKey: "erase-gone", MemberID: "gone", Actor: "key-admin"}); err != nil {
		t.Fatal(err)
	}
	city := "Busan"
	patchMember(t, src, ledger.PatchMemberRequest{IdempotencyKey: "p-ref", MemberID: "ref", Attributes: map[string]*string{"city": &city},
		BirthDate: &ledger.BirthDate{Month: 12, Day: 31, Year: ptr(1980)}, Consents: map[string]bool{"push": true}})
	birthday := ledger.BirthdayRule{Points: 50, Window: config.LimitDay}
	if r := grantBirthday(t, src, "ref", birthday, at("2026-12-31T10:00:00Z")); !r.Granted {
		t.Fatalf("birthday before the export: %+v", r)
	}
	stream, _ := export(t, src)
	if _, err := dst.Import(ctx, bytes.NewReader(stream)); err != nil {
		t.Fatalf("import: %v", err)
	}
	CheckInvariants(t, dst)
	again, _ := export(t, dst)
	want, _, _ := normalised(t, stream)
	got, _, _ := normalised(t, again)
	if !slices.Equal(got, want) {
		t.Errorf("records differ after the round trip:\n%s", lineDiff(want, got))
	}
	for _, id := range []string{"ref", erasedMember(t, stream)} {
		a, b := member(t, src, id, t0), member(t, dst, id, t0)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("member %s:\n source %+v\n import %+v", id, a, b)
		}
	}
	if r := grantBirthday(t, dst, "ref", birthday, at("2026-12-31T11:00:00Z")); r.Granted {
		t.Errorf("the birthday granted before the export was granted again after the import: %+v", r)
	}
	if v := member(t, dst, "ref", t0); v.Attributes["city"] != "Busan" || v.BirthDate == nil || !v.Consents["push"].Granted {
		t.Errorf("imported profile: %+v", v)
	}
}
