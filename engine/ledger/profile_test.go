package ledger

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestCheckBirthDate(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	year := func(y int) *int { return &y }
	for _, tc := range []struct {
		b     BirthDate
		field string // "" when valid
	}{
		{BirthDate{Month: 2, Day: 29}, ""},
		{BirthDate{Month: 2, Day: 29, Year: year(2024)}, ""},
		{BirthDate{Month: 2, Day: 29, Year: year(2023)}, "birthDate.day"},
		{BirthDate{Month: 2, Day: 30}, "birthDate.day"},
		{BirthDate{Month: 4, Day: 31}, "birthDate.day"},
		{BirthDate{Month: 12, Day: 31, Year: year(1900)}, ""},
		{BirthDate{Month: 1, Day: 1, Year: year(1899)}, "birthDate.year"},
		{BirthDate{Month: 1, Day: 1, Year: year(2027)}, "birthDate.year"},
		{BirthDate{Month: 0, Day: 1}, "birthDate.month"},
		{BirthDate{Month: 1, Day: 0}, "birthDate.day"},
	} {
		err := CheckBirthDate("birthDate", tc.b, now)
		var fe *FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v, want valid", tc.b, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("%+v: %v, want a FieldError on %s", tc.b, err, tc.field)
		}
	}
}

func TestApplyPatch(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	v := "Seoul"
	p := Profile{Attributes: map[string]string{"city": "Busan", "lang": "ko"}, Consents: map[string]Consent{"email": {Granted: true, At: t0}}}
	r := PatchMemberRequest{Tags: &[]string{"a"}, Attributes: map[string]*string{"city": &v, "lang": nil, "absent": nil},
		BirthDate: &BirthDate{Month: 5, Day: 5}, Consents: map[string]bool{"email": true, "sms": true}}
	now := t0.Add(time.Hour)
	tags, got, changed := ApplyPatch([]string{"a"}, p, r, now)
	if want := []string{"attributes.city", "attributes.lang", "birthDate", "consents.sms"}; !slices.Equal(changed, want) {
		t.Fatalf("changed %v, want %v", changed, want)
	}
	if !slices.Equal(tags, []string{"a"}) || got.Attributes["city"] != "Seoul" || len(got.Attributes) != 1 ||
		!got.Consents["email"].At.Equal(t0) || !got.Consents["sms"].At.Equal(now) || got.BirthDate.Month != 5 {
		t.Fatalf("patched %v %+v", tags, got)
	}
	if p.Attributes["city"] != "Busan" {
		t.Fatal("the patch changed the profile it was given")
	}
	if _, _, changed := ApplyPatch(tags, got, r, now); len(changed) != 0 {
		t.Fatalf("the same patch again changed %v", changed)
	}
	if _, cleared, changed := ApplyPatch(tags, got, PatchMemberRequest{ClearBirthDate: true}, now); cleared.BirthDate != nil || !slices.Equal(changed, []string{"birthDate"}) {
		t.Fatalf("clearing the birth date: %+v %v", cleared, changed)
	}
}

func TestPatchNormalize(t *testing.T) {
	tooMany := map[string]*string{}
	for i := range MaxAttributes + 1 {
		tooMany[string(rune('a'+i%26))+string(rune('a'+i/26))] = nil
	}
	x := "x"
	for _, tc := range []struct {
		r     PatchMemberRequest
		field string
	}{
		{PatchMemberRequest{Attributes: tooMany}, "attributes"},
		{PatchMemberRequest{Attributes: map[string]*string{"a b": &x}}, "attributes.a b"},
		{PatchMemberRequest{Consents: map[string]bool{"fax": true}}, "consents.fax"},
		{PatchMemberRequest{Tags: &[]string{""}}, "tags[0]"},
		{PatchMemberRequest{MemberID: ""}, "memberId"},
	} {
		if tc.r.MemberID == "" && tc.field != "memberId" {
			tc.r.MemberID = "m1"
		}
		tc.r.IdempotencyKey = "k"
		_, err := tc.r.Normalize(time.Now())
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: %v, want a FieldError on %s", tc.r, err, tc.field)
		}
	}
	norm, err := PatchMemberRequest{IdempotencyKey: "k", MemberID: "m1", Tags: &[]string{"b", "a", "b"}}.Normalize(time.Now())
	if err != nil || !slices.Equal(*norm.Tags, []string{"a", "b"}) {
		t.Fatalf("tags normalised: %v, %v", norm.Tags, err)
	}
}
