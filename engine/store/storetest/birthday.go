package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// born enrols id with a birth date.
func born(t *testing.T, s ledger.Ledger, id string, month, day int) {
	t.Helper()
	enroll(t, s, id)
	if _, err := s.PatchMember(ctx, ledger.PatchMemberRequest{IdempotencyKey: "born-" + id, MemberID: id, Actor: "test",
		BirthDate: &ledger.BirthDate{Month: month, Day: day}}); err != nil {
		t.Fatalf("birth date of %s: %v", id, err)
	}
}

func grantBirthday(t *testing.T, s ledger.Ledger, id string, rule ledger.BirthdayRule, now time.Time) ledger.BirthdayResult {
	t.Helper()
	r, err := s.GrantBirthday(ctx, ledger.BirthdayRequest{MemberID: id, Rule: rule, Now: now})
	if err != nil {
		t.Fatalf("grant birthday of %s at %s: %v", id, now, err)
	}
	return r
}

// testBirthdayOncePerYear: a birthday grant inside the window only, once
// per year, again the next year; in Seoul across the year boundary; a 29
// February birthday on 28 February 2027. The member sees an earn entry of
// reason "birthday".
func testBirthdayOncePerYear(t *testing.T, s ledger.Ledger) {
	seoul := zone(t, "Asia/Seoul")
	rule := ledger.BirthdayRule{Points: 250, Window: config.LimitDay, Location: seoul}
	born(t, s, "m1", 1, 1)
	steps := []struct {
		now      string
		wantYear int // 0: nothing granted
	}{
		{"2026-12-31T14:59:59Z", 0},    // 23:59:59 on 31 December in Seoul
		{"2026-12-31T15:00:00Z", 2027}, // midnight of 1 January 2027 in Seoul, still 2026 in UTC
		{"2026-12-31T20:00:00Z", 0},    // the same day: granted already
		{"2027-01-01T14:59:59Z", 0},    // the last second of the day in Seoul
		{"2027-01-01T15:00:00Z", 0},    // 2 January in Seoul: outside
		{"2027-12-31T15:00:00Z", 2028}, // the next year
	}
	for _, st := range steps {
		r := grantBirthday(t, s, "m1", rule, at(st.now))
		if r.Granted != (st.wantYear != 0) || r.Year != st.wantYear {
			t.Errorf("at %s: granted %v for %d, want year %d", st.now, r.Granted, r.Year, st.wantYear)
		}
	}
	wantBalance(t, s, "m1", 500, 0, 500)
	page, err := s.History(ctx, ledger.HistoryQuery{MemberID: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 2 || page.Entries[0].Kind != ledger.EntryEarn || page.Entries[0].Reason != ledger.ReasonBirthday ||
		page.Entries[0].Reference != "birthday-2028" || page.Entries[0].Available != 250 {
		t.Errorf("history %+v: want two earn entries of reason birthday, the newest for 2028", page.Entries)
	}

	// 29 February falls on 28 February in 2027, once.
	born(t, s, "leap", 2, 29)
	day := ledger.BirthdayRule{Points: 100, Window: config.LimitDay}
	if r := grantBirthday(t, s, "leap", day, at("2027-02-28T10:00:00Z")); !r.Granted || r.Year != 2027 {
		t.Errorf("29 February on 28 February 2027: %+v", r)
	}
	if r := grantBirthday(t, s, "leap", day, at("2027-03-01T10:00:00Z")); r.Granted {
		t.Errorf("29 February granted again on 1 March 2027: %+v", r)
	}
	// Without a birth date nothing is granted.
	enroll(t, s, "unborn")
	if r := grantBirthday(t, s, "unborn", day, at("2027-02-28T10:00:00Z")); r.Granted {
		t.Errorf("a member without a birth date was granted %+v", r)
	}
	// The pass grants only those whose window holds now, once.
	born(t, s, "w1", 6, 17)
	born(t, s, "w2", 6, 21)
	born(t, s, "w3", 6, 22)
	week := ledger.BirthdayRule{Points: 10, Window: config.LimitWeek, Location: seoul}
	wed := at("2026-06-17T03:00:00Z") // Wednesday in Seoul; the week ends on Sunday 21 June
	for i, want := range []int{2, 0} {
		res, err := s.GrantBirthdays(ctx, ledger.BirthdaysRequest{Rule: week, Now: wed, PageSize: 1})
		if err != nil || res.Granted != want || res.Points != int64(10*want) {
			t.Errorf("pass %d: %+v, %v; want %d granted", i, res, err, want)
		}
	}
	wantBalance(t, s, "w3", 0, 0, 0)
}

// testConcurrentBirthdays: 64 grants at once of one member's birthday
// grant it once.
func testConcurrentBirthdays(t *testing.T, s ledger.Ledger) {
	ConcurrentBirthdays(t, []ledger.Ledger{s})
}

// ConcurrentBirthdays races 64 grants of one birthday (half of them by
// the due pass) over several stores: exactly one is granted.
func ConcurrentBirthdays(t *testing.T, stores []ledger.Ledger) {
	s := stores[0]
	born(t, s, "m1", 3, 5)
	rule := ledger.BirthdayRule{Points: 300, Window: config.LimitMonth}
	now := at("2026-03-20T12:00:00Z")
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for i := range 64 {
		wg.Go(func() {
			st := stores[i%len(stores)]
			n := 0
			if i%4 == 0 {
				res, err := st.GrantBirthdays(ctx, ledger.BirthdaysRequest{Rule: rule, Now: now})
				if err != nil {
					t.Errorf("pass %d: %v", i, err)
				}
				n = res.Granted
			} else {
				r, err := st.GrantBirthday(ctx, ledger.BirthdayRequest{MemberID: "m1", Rule: rule, Now: now})
				if err != nil {
					t.Errorf("grant %d: %v", i, err)
				}
				if r.Granted {
					n = 1
				}
			}
			mu.Lock()
			granted += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if granted != 1 {
		t.Errorf("%d grants, want 1", granted)
	}
	wantBalance(t, s, "m1", 300, 0, 300)
}

// testBirthdayAtFirstEarn: an earn carrying the birthday rule grants it
// in its transaction when the store's now is in the window, once.
func testBirthdayAtFirstEarn(t *testing.T, s ledger.Ledger) {
	now := time.Now().UTC()
	born(t, s, "m1", int(now.Month()), min(now.Day(), 28))
	rule := &ledger.BirthdayRule{Points: 200, Window: config.LimitMonth}
	for i := range 2 {
		r := earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: key("e", i), Points: 10, Action: "visit", Birthday: rule})
		if want := int64(200 + 10*(i+1)); r.Balance.Available != want {
			t.Errorf("earn %d: balance %d, want %d: the birthday once and the earns", i, r.Balance.Available, want)
		}
	}
	res, err := s.GrantBirthdays(ctx, ledger.BirthdaysRequest{Rule: *rule})
	if err != nil || res.Granted != 0 {
		t.Errorf("the pass after the earn: %+v, %v; want nothing granted", res, err)
	}
	wantBalance(t, s, "m1", 220, 0, 220)
}
