package storetest

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// MigrateBefore applies the migrations of a dialect older than version to
// db, recording them as the store does, so that a test can write rows as an
// earlier version kept them and then open the store over them.
func MigrateBefore(t testing.TB, db *sql.DB, migrations fs.FS, version int64) {
	t.Helper()
	names, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		v, err := strconv.ParseInt(strings.SplitN(name, "_", 2)[0], 10, 64)
		if err != nil || v >= version {
			continue
		}
		body, err := fs.ReadFile(migrations, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("migration %s: %v", name, err)
		}
		if _, err := db.Exec(fmt.Sprintf(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (%d, '%s', 0)`, v, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// LegacyReversedPurchase writes, as the schema before migration 11 kept
// them, a member "old" with a purchase of 10.00 EUR at t0 that earned 100
// points, 33 of them reversed: the purchase's spend is then 6.70.
func LegacyReversedPurchase(t testing.TB, db *sql.DB) {
	t.Helper()
	at := t0.UnixMicro()
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO members (id, tags, enrolled_at, available, pending, lifetime, last_activity_at) VALUES ('old', '[]', %d, 67, 0, 67, %d)`, at, at),
		fmt.Sprintf(`INSERT INTO events (member_id, event_id, points, reversed, purchase_amount, currency, occurred_at, recorded_at) VALUES ('old', 'o1', 100, 33, 1000, 'EUR', %d, %d)`, at, at),
		fmt.Sprintf(`INSERT INTO lots (member_id, event_id, amount, remaining, state, available_at) VALUES ('old', 'o1', 100, 67, 'available', %d)`, at),
		fmt.Sprintf(`INSERT INTO entries (member_id, kind, available, pending, lifetime, event_id, reference, reason, shortfall, at) VALUES ('old', 'earn', 100, 0, 100, 'o1', '', '', 0, %d)`, at),
		fmt.Sprintf(`INSERT INTO entries (member_id, kind, available, pending, lifetime, event_id, reference, reason, shortfall, at) VALUES ('old', 'reverse', -33, 0, -33, 'o1', '', '', 0, %d)`, at),
		fmt.Sprintf(`INSERT INTO member_activity_daily (member_id, day, currency, points, spend) VALUES ('old', %d, 'EUR', 67, 670)`, at/(24*time.Hour).Microseconds()),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// CheckLegacyReversedPurchase checks a store migrated over
// LegacyReversedPurchase: the purchase keeps its spend of 6.70, and
// reversing the rest of it takes the spend to 0.
func CheckLegacyReversedPurchase(t testing.TB, s ledger.Ledger) {
	t.Helper()
	CheckInvariants(t, s)
	spend := func() config.Decimal {
		a, err := s.Aggregates(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return a.SpendSinceEnrollment
	}
	if got := spend(); got != config.MustDecimal("6.70") {
		t.Fatalf("spend after the migration: %s, want 6.70", got)
	}
	res, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "rest", MemberID: "old", EventID: "o1"})
	if err != nil || res.Requested != 67 {
		t.Fatalf("reverse the rest: %+v, %v; want 67 points", res, err)
	}
	if got := spend(); got != config.MustDecimal("0") {
		t.Fatalf("spend after a full reversal: %s, want 0", got)
	}
	CheckInvariants(t, s)
}

// RichLedger writes a little of everything a store holds (see richLedger),
// for a migration test to copy into a database of an older schema.
func RichLedger(t *testing.T, s ledger.Ledger) {
	t.Helper()
	richLedger(t, s)
}

// CheckSameLedger checks that a store migrated over a copy of want's rows
// holds the same ledger: the same exported records, the same reads, the
// invariants, and writes that carry on as they do in want.
func CheckSameLedger(t *testing.T, want, got ledger.Ledger) {
	t.Helper()
	CheckInvariants(t, got)
	wantStream, _ := export(t, want)
	gotStream, _ := export(t, got)
	wantLines, _, _ := normalised(t, wantStream)
	gotLines, _, _ := normalised(t, gotStream)
	if !slices.Equal(gotLines, wantLines) {
		t.Errorf("records differ after the migration:\n%s", lineDiff(wantLines, gotLines))
	}
	sameReads(t, want, got)
	carriesOn(t, want, got)
	CheckInvariants(t, got)
}

// LegacyEmptiedLots writes, as the schema before migration 14 kept them, a
// member "old" credited 60 and then 40 points, 70 of them redeemed: the
// lot of 60 emptied but still available, 30 left in the lot of 40.
func LegacyEmptiedLots(t testing.TB, db *sql.DB) {
	t.Helper()
	at := t0.UnixMicro()
	entry := `INSERT INTO entries (member_id, kind, available, pending, lifetime, event_id, reference, reason, shortfall, at) VALUES ('old', '%s', %d, 0, %d, '', '', '', 0, %d)`
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO members (id, tags, enrolled_at, available, pending, lifetime, last_activity_at) VALUES ('old', '[]', %d, 30, 0, 100, %d)`, at, at),
		fmt.Sprintf(`INSERT INTO lots (member_id, event_id, amount, remaining, state, available_at, expires_at) VALUES ('old', '', 60, 0, 'available', %d, %d)`, at, day(10).UnixMicro()),
		fmt.Sprintf(`INSERT INTO lots (member_id, event_id, amount, remaining, state, available_at) VALUES ('old', '', 40, 30, 'available', %d)`, at),
		fmt.Sprintf(entry, "adjust", 60, 60, at),
		fmt.Sprintf(entry, "adjust", 40, 40, at),
		fmt.Sprintf(entry, "redeem", -70, 0, at),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// CheckLegacyEmptiedLots checks a store migrated over LegacyEmptiedLots:
// the emptied lot is spent, the other still available; redeeming the 30
// points left spends it too, and expiring nothing is due.
func CheckLegacyEmptiedLots(t *testing.T, s ledger.Ledger) {
	t.Helper()
	CheckInvariants(t, s)
	states := func() map[int64]string {
		stream, _ := export(t, s)
		got := map[int64]string{}
		for line := range strings.SplitSeq(string(stream), "\n") {
			var r struct {
				Type              string
				Amount, Remaining int64
				State             string
			}
			if err := json.Unmarshal([]byte(line), &r); err == nil && r.Type == ledger.RecordLot {
				got[r.Amount] = fmt.Sprint(r.State, " ", r.Remaining)
			}
		}
		return got
	}
	if got, want := states(), map[int64]string{60: "spent 0", 40: "available 30"}; !maps.Equal(got, want) {
		t.Fatalf("lots after the migration: %v, want %v", got, want)
	}
	if res, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: "rest", MemberID: "old", Points: 30}); err != nil || res.Balance.Available != 0 {
		t.Fatalf("redeem the rest: %+v, %v; want nothing left", res, err)
	}
	if got, want := states(), map[int64]string{60: "spent 0", 40: "spent 0"}; !maps.Equal(got, want) {
		t.Fatalf("lots after redeeming the rest: %v, want %v", got, want)
	}
	if res, err := s.ProcessDue(ctx, ledger.DueOptions{Now: day(11)}); err != nil || res.ExpiredLots != 0 {
		t.Fatalf("due after the spent lot's expiry: %+v, %v; want nothing expired", res, err)
	}
	CheckInvariants(t, s)
}
