package ledger

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// Write kinds of the member profile.
const (
	OpPatchMember Op = "patchMember"
	OpEraseMember Op = "eraseMember"
)

// Limits of a member's profile.
const (
	MaxAttributes         = 32
	MaxAttributeKeyLength = 64
	MaxAttributeValue     = 256
	// MinBirthYear bounds a plausible birth year; the latest is the
	// current year.
	MinBirthYear = 1900
)

// ConsentChannels are the contact channels a member consents to.
var ConsentChannels = []string{"email", "push", "sms"}

// ErrMemberErased refuses a change to a member whose personal data was
// erased: its row only carries the ledger amounts under a pseudonym.
var ErrMemberErased = errors.New("member erased")

// attributeKey is the shape of an attribute name: an identifier, so that
// attribute names can be used in rules and exports without quoting.
var attributeKey = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.-]*$`)

// BirthDate is a member's birthday: month and day, the year optional.
type BirthDate struct {
	Month int  `json:"month"`
	Day   int  `json:"day"`
	Year  *int `json:"year,omitempty"`
}

// Consent is a member's answer for one contact channel and when it was
// given or withdrawn.
type Consent struct {
	Granted bool      `json:"granted"`
	At      time.Time `json:"at"`
}

// Profile is a member's personal data besides the id: what erasure
// removes.
type Profile struct {
	Attributes map[string]string  `json:"attributes"`
	BirthDate  *BirthDate         `json:"birthDate,omitempty"`
	Consents   map[string]Consent `json:"consents"`
}

// PatchMemberRequest changes a member's tags and profile. Absent fields
// are left as they are.
type PatchMemberRequest struct {
	IdempotencyKey string `json:"idempotencyKey"`
	// Fingerprint, when set, identifies the request for its idempotency key
	// instead of the store's hash of the request (see Ledger).
	Fingerprint string `json:"-"`
	MemberID    string `json:"memberId"`
	// Actor is who made the change (the API key's id), for the history.
	Actor string `json:"actor"`
	// Tags, when set, replaces the member's tags.
	Tags *[]string `json:"tags,omitempty"`
	// Attributes sets each key to its value; a nil value deletes the key.
	Attributes map[string]*string `json:"attributes,omitempty"`
	// BirthDate, when set, replaces the birth date; ClearBirthDate removes it.
	BirthDate      *BirthDate `json:"birthDate,omitempty"`
	ClearBirthDate bool       `json:"clearBirthDate,omitempty"`
	// Consents gives (true) or withdraws (false) consent per channel.
	Consents map[string]bool `json:"consents,omitempty"`
}

// PatchMemberResult is the member's tags and profile after the patch and
// the fields it changed (none when the patch changed nothing).
type PatchMemberResult struct {
	MemberID string   `json:"memberId"`
	Tags     []string `json:"tags"`
	Profile
	Changed  []string  `json:"changed"`
	At       time.Time `json:"at"`
	Replayed bool      `json:"replayed,omitempty"`
}

// EraseMemberRequest erases a member's personal data (see Ledger.EraseMember).
type EraseMemberRequest struct {
	IdempotencyKey string `json:"idempotencyKey"`
	Fingerprint    string `json:"-"`
	MemberID       string `json:"memberId"`
	Actor          string `json:"actor"`
}

// EraseMemberResult reports an erasure. It names neither the old id nor
// the pseudonym, so that the answer (kept with its idempotency key and
// exported) links them nowhere.
type EraseMemberResult struct {
	Erased   bool      `json:"erased"`
	ErasedAt time.Time `json:"erasedAt"`
	Replayed bool      `json:"replayed,omitempty"`
}

// ProfileChange is one line of a member's profile history: who changed
// which fields when (the values are not kept).
type ProfileChange struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Op     string    `json:"op"`
	Fields []string  `json:"fields"`
}

// Normalize validates the patch; field names are the JSON body's.
func (r PatchMemberRequest) Normalize(now time.Time) (PatchMemberRequest, error) {
	if err := firstError(CheckKey(r.IdempotencyKey), checkID("memberId", r.MemberID)); err != nil {
		return r, err
	}
	if r.Tags != nil {
		if err := checkTags(*r.Tags); err != nil {
			return r, err
		}
		tags := slices.Clone(*r.Tags)
		slices.Sort(tags)
		tags = slices.Compact(tags)
		r.Tags = &tags
	}
	if err := checkAttributes(r.Attributes); err != nil {
		return r, err
	}
	if r.BirthDate != nil {
		if err := CheckBirthDate("birthDate", *r.BirthDate, now); err != nil {
			return r, err
		}
	}
	for _, ch := range slices.Sorted(maps.Keys(r.Consents)) {
		if !slices.Contains(ConsentChannels, ch) {
			return r, fieldErr("consents."+ch, fmt.Sprintf("unknown channel: want one of %v", ConsentChannels))
		}
	}
	r.IdempotencyKey = ""
	return r, nil
}

func checkTags(tags []string) error {
	if len(tags) > MaxTags {
		return fieldErr("tags", fmt.Sprintf("more than %d tags", MaxTags))
	}
	for i, tag := range tags {
		if err := checkTag(i, tag); err != nil {
			return err
		}
	}
	return nil
}

func checkAttributes(attrs map[string]*string) error {
	if len(attrs) > MaxAttributes {
		return fieldErr("attributes", fmt.Sprintf("more than %d keys", MaxAttributes))
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if len(k) > MaxAttributeKeyLength || !attributeKey.MatchString(k) {
			return fieldErr("attributes."+k, fmt.Sprintf("key must be a letter then letters, digits, '_', '.' or '-', at most %d bytes", MaxAttributeKeyLength))
		}
		v := attrs[k]
		if v == nil {
			continue
		}
		if reason := textProblem(*v); reason != "" {
			return fieldErr("attributes."+k, reason)
		}
		if utf8.RuneCountInString(*v) > MaxAttributeValue {
			return fieldErr("attributes."+k, fmt.Sprintf("longer than %d characters", MaxAttributeValue))
		}
	}
	return nil
}

// CheckBirthDate validates a birth date at field: a day that exists in
// the month (29 February too, in any year given as a leap year), a year
// from MinBirthYear to now's.
func CheckBirthDate(field string, b BirthDate, now time.Time) error {
	if b.Month < 1 || b.Month > 12 {
		return fieldErr(field+".month", "must be 1 to 12")
	}
	year := 2000 // a leap year: 29 February is a birthday without a year
	if b.Year != nil {
		year = *b.Year
		if year < MinBirthYear || year > now.UTC().Year() {
			return fieldErr(field+".year", fmt.Sprintf("must be %d to %d", MinBirthYear, now.UTC().Year()))
		}
	}
	last := time.Date(year, time.Month(b.Month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	if b.Day < 1 || b.Day > last {
		return fieldErr(field+".day", fmt.Sprintf("must be 1 to %d for month %d", last, b.Month))
	}
	return nil
}

// ApplyPatch returns the tags and profile after the patch (normalised by
// Normalize) at now, and the fields it changed, sorted: "tags",
// "attributes.<key>", "birthDate", "consents.<channel>". A consent
// answered again with the same value keeps its time and is no change.
func ApplyPatch(tags []string, p Profile, r PatchMemberRequest, now time.Time) ([]string, Profile, []string) {
	var changed []string
	if r.Tags != nil && !slices.Equal(tags, *r.Tags) {
		tags = slices.Clone(*r.Tags)
		changed = append(changed, "tags")
	}
	attrs := maps.Clone(p.Attributes)
	if attrs == nil {
		attrs = map[string]string{}
	}
	for k, v := range r.Attributes {
		old, had := attrs[k]
		switch {
		case v == nil && had:
			delete(attrs, k)
		case v != nil && (!had || old != *v):
			attrs[k] = *v
		default:
			continue
		}
		changed = append(changed, "attributes."+k)
	}
	birth := p.BirthDate
	switch {
	case r.ClearBirthDate && birth != nil:
		birth = nil
		changed = append(changed, "birthDate")
	case r.BirthDate != nil && !sameBirthDate(birth, r.BirthDate):
		b := *r.BirthDate
		birth = &b
		changed = append(changed, "birthDate")
	}
	consents := maps.Clone(p.Consents)
	if consents == nil {
		consents = map[string]Consent{}
	}
	for ch, granted := range r.Consents {
		if c, ok := consents[ch]; ok && c.Granted == granted {
			continue
		}
		consents[ch] = Consent{Granted: granted, At: NormTime(now)}
		changed = append(changed, "consents."+ch)
	}
	slices.Sort(changed)
	return tags, Profile{Attributes: attrs, BirthDate: birth, Consents: consents}, changed
}

// CheckAttributesLimit refuses a patch that leaves more than
// MaxAttributes attributes.
func CheckAttributesLimit(p Profile) error {
	if len(p.Attributes) > MaxAttributes {
		return fieldErr("attributes", fmt.Sprintf("the member would have more than %d attributes", MaxAttributes))
	}
	return nil
}

func sameBirthDate(a, b *BirthDate) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Month != b.Month || a.Day != b.Day || (a.Year == nil) != (b.Year == nil) {
		return false
	}
	return a.Year == nil || *a.Year == *b.Year
}

// Normalize validates the erasure.
func (r EraseMemberRequest) Normalize() (EraseMemberRequest, error) {
	if err := firstError(CheckKey(r.IdempotencyKey), checkID("memberId", r.MemberID)); err != nil {
		return r, err
	}
	r.IdempotencyKey = ""
	return r, nil
}

// CheckProfile validates a stored profile (as an import reads it) like
// the patches that make one.
func CheckProfile(p Profile, now time.Time) error {
	attrs := make(map[string]*string, len(p.Attributes))
	for k, v := range p.Attributes {
		attrs[k] = &v
	}
	if err := checkAttributes(attrs); err != nil {
		return err
	}
	if p.BirthDate != nil {
		if err := CheckBirthDate("birthDate", *p.BirthDate, now); err != nil {
			return err
		}
	}
	for _, ch := range slices.Sorted(maps.Keys(p.Consents)) {
		if !slices.Contains(ConsentChannels, ch) {
			return fieldErr("consents."+ch, fmt.Sprintf("unknown channel: want one of %v", ConsentChannels))
		}
		if err := checkTime("consents."+ch+".at", p.Consents[ch].At); err != nil {
			return err
		}
	}
	return nil
}
