package ledger

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFieldErrorMatchesInvalidRequest(t *testing.T) {
	_, err := RedeemRequest{IdempotencyKey: "k", MemberID: "m"}.Normalize()
	var fe *FieldError
	if !errors.Is(err, ErrInvalidRequest) || !errors.As(err, &fe) || fe.Field != "points" {
		t.Fatalf("got %v", err)
	}
	if got := BatchItemError(3, err); got.Error() != "invalid events[3].points: must be positive" {
		t.Fatalf("batch item error %q", got)
	}
	if ie := NewItemError(BatchItemError(3, err)); ie.Code != "invalid_request" || ie.Field != "events[3].points" {
		t.Fatalf("item error %+v", ie)
	}
	if got := BatchItemError(1, ErrMemberNotFound); got != ErrMemberNotFound { //nolint:errorlint // identity is the point: the error must come back unwrapped
		t.Fatalf("non-field errors pass unchanged, got %v", got)
	}
}

func TestErrorCode(t *testing.T) {
	tests := map[error]string{
		nil:                                  "",
		ErrInsufficientPoints:                "insufficient_points",
		&FieldError{Field: "x", Reason: "y"}: "invalid_request",
		errors.Join(errors.New("ctx"), ErrMemberNotFound): "member_not_found",
		ErrIdempotencyReuse: "idempotency_key_reused",
		errors.New("boom"):  "internal",
	}
	for err, want := range tests {
		if got := ErrorCode(err); got != want {
			t.Errorf("ErrorCode(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestRequestHash(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 123456789, time.UTC)
	a, _ := EarnRequest{IdempotencyKey: "k1", MemberID: "m", EventID: "e", Points: 5, OccurredAt: at}.Normalize()
	b, _ := EarnRequest{IdempotencyKey: "k2", MemberID: "m", EventID: "e", Points: 5, OccurredAt: at.In(time.FixedZone("x", 7200))}.Normalize()
	c, _ := EarnRequest{IdempotencyKey: "k1", MemberID: "m", EventID: "e", Points: 6, OccurredAt: at}.Normalize()
	if RequestHash(OpEarn, a) != RequestHash(OpEarn, b) {
		t.Fatal("key and time zone must not change the hash")
	}
	if RequestHash(OpEarn, a) == RequestHash(OpEarn, c) {
		t.Fatal("points must change the hash")
	}
	r := RedeemRequest{MemberID: "m", Points: 5}
	if RequestHash(OpRedeem, r) == RequestHash(OpAdjust, r) {
		t.Fatal("the operation must change the hash")
	}
	if a.OccurredAt.Nanosecond() != 123456000 {
		t.Fatalf("times are kept to the microsecond, got %v", a.OccurredAt)
	}
}

func TestHistoryCursor(t *testing.T) {
	q, before, err := HistoryQuery{MemberID: "m", Cursor: EncodeCursor(42)}.Normalize()
	if err != nil || before != 42 || q.Limit != DefaultHistoryPage {
		t.Fatalf("got %+v %d %v", q, before, err)
	}
	for _, bad := range []string{"x", EncodeCursor(0), "czQy" + "!", "eDQy"} {
		if _, _, err := (HistoryQuery{MemberID: "m", Cursor: bad}).Normalize(); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}

func TestValidation(t *testing.T) {
	long := strings.Repeat("x", MaxIDLength+1)
	tests := []struct {
		name   string
		err    error
		field  string
		reason string // checked when set
	}{
		{"earn points too large", second(EarnRequest{IdempotencyKey: "k", MemberID: "m", EventID: "e", Points: MaxPoints + 1}.Normalize()), "points", ""},
		{"earn long event", second(EarnRequest{IdempotencyKey: "k", MemberID: "m", EventID: long, Points: 1}.Normalize()), "eventId", ""},
		{"key too long", second(RedeemRequest{IdempotencyKey: strings.Repeat("k", MaxKeyLength+1), MemberID: "m", Points: 1}.Normalize()), "idempotencyKey", ""},
		{"adjust too large", second(AdjustRequest{IdempotencyKey: "k", MemberID: "m", Points: -MaxPoints - 1, Reason: "r"}.Normalize()), "points", ""},
		{"reverse no key", second(ReverseRequest{MemberID: "m", EventID: "e"}.Normalize()), "idempotencyKey", ""},
		{"too many tags", second(EnrollRequest{IdempotencyKey: "k", MemberID: "m", Tags: make([]string, MaxTags+1)}.Normalize()), "tags", ""},
		{"attribution without campaign", second(EarnRequest{IdempotencyKey: "k", MemberID: "m", EventID: "e",
			Campaigns: []CampaignBonus{{Campaign: "a", Attributed: 1}, {Attributed: 1}}}.Normalize()), "campaigns[1].campaign", "required"},
		{"attribution campaign too long", second(EarnRequest{IdempotencyKey: "k", MemberID: "m", EventID: "e",
			Campaigns: []CampaignBonus{{Campaign: long, Attributed: 1}}}.Normalize()), "campaigns[0].campaign", "longer than 128 bytes"},
		{"attribution of nothing", second(EarnRequest{IdempotencyKey: "k", MemberID: "m", EventID: "e", Points: 1,
			Campaigns: []CampaignBonus{{Campaign: "a", Attributed: 1}, {Campaign: "b"}}}.Normalize()), "campaigns[1].attributed", "must be positive"},
		{"attribution too large", second(EarnRequest{IdempotencyKey: "k", MemberID: "m", EventID: "e",
			Campaigns: []CampaignBonus{{Campaign: "a", Attributed: MaxPoints + 1}}}.Normalize()), "campaigns[0].attributed", "too large"},
	}
	for _, tc := range tests {
		var fe *FieldError
		if !errors.As(tc.err, &fe) || fe.Field != tc.field || (tc.reason != "" && fe.Reason != tc.reason) {
			t.Errorf("%s: got %v, want a field error on %s %s", tc.name, tc.err, tc.field, tc.reason)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestRefundPoints(t *testing.T) {
	tests := []struct{ earned, refund, purchase, want int64 }{
		{100, 2500, 10000, 25},
		{100, 3333, 10000, 33},
		{100, 3350, 10000, 34}, // half up
		{1, 1, 3, 0},
		{MaxPoints, 1 << 62, 1 << 62, MaxPoints}, // no overflow
		{MaxPoints, 1 << 61, 1 << 62, MaxPoints / 2},
	}
	for _, tc := range tests {
		if got := RefundPoints(tc.earned, tc.refund, tc.purchase); got != tc.want {
			t.Errorf("RefundPoints(%d, %d, %d) = %d, want %d", tc.earned, tc.refund, tc.purchase, got, tc.want)
		}
	}
}
