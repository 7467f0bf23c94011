package strictjson

import (
	"errors"
	"testing"
	"time"
)

// event is a request with nested events, like a batch.
type event struct {
	IdempotencyKey string    `json:"idempotencyKey"`
	Points         int64     `json:"points,omitempty"`
	Tags           []string  `json:"tags,omitempty"`
	At             time.Time `json:"at,omitzero"`
	Events         []event   `json:"events,omitempty"`
}

func TestUnmarshalRefusals(t *testing.T) {
	tests := []struct {
		name, body   string
		field, cause string
	}{
		{"duplicate name", `{"points":1,"points":50}`, "points", "duplicate field: a name may appear once in an object"},
		{"duplicate name in an array element", `{"events":[{},{"points":1,"points":2}]}`, "events[1].points", "duplicate field: a name may appear once in an object"},
		{"name in another case", `{"IDEMPOTENCYKEY":"k","POINTS":7}`, "IDEMPOTENCYKEY", `unknown field: names are case-sensitive, did you mean "idempotencyKey"?`},
		{"unknown name", `{"events":[{},{"nope":1}]}`, "events[1].nope", "unknown field"},
		{"empty name", `{"":1}`, "", `unknown field ""`},
		{"invalid UTF-8", "{\"idempotencyKey\":\"jos\xe9\"}", "idempotencyKey", "malformed JSON at byte 22: invalid UTF-8"},
		{"lone surrogate", `{"idempotencyKey":"a\ud800"}`, "idempotencyKey", "malformed JSON at byte 20: invalid surrogate pair `\\ud800\"}` in string"},
		{"NUL in a value", `{"idempotencyKey":"a\u0000"}`, "idempotencyKey", `contains a NUL character (\u0000), which no text may hold`},
		{"NUL in an array", `{"events":[{},{"tags":["ok","b\u0000"]}]}`, "events[1].tags[1]", `contains a NUL character (\u0000), which no text may hold`},
		{"wrong kind", `{"events":[{"points":"x"}]}`, "events[0].points", "want integer, got JSON string"},
		{"fraction for an integer", `{"points":1.5}`, "points", "want integer, got JSON number 1.5"},
		{"number for a string", `{"tags":["a",1]}`, "tags[1]", "want string, got JSON number"},
		{"time not RFC 3339", `{"at":"yesterday"}`, "at", `invalid time "yesterday": want RFC 3339 such as "2026-12-05T10:00:00Z"`},
		{"zero time", `{"at":"0001-01-01T00:00:00Z"}`, "at", "0001-01-01T00:00:00Z: must be after 1970-01-01T00:00:00Z"},
		{"time before 1970", `{"at":"1969-12-31T23:59:59Z"}`, "at", "1969-12-31T23:59:59Z: must be after 1970-01-01T00:00:00Z"},
		{"time as a number", `{"at":5}`, "at", "want an RFC 3339 time string, got JSON number"},
		{"malformed", `{"idempotencyKey": x}`, "idempotencyKey", "malformed JSON at byte 19: invalid character 'x' at start of value"},
		{"truncated", `{"idempotencyKey": `, "", "malformed JSON: unexpected end of input"},
		{"trailing data", `{} {}`, "", "unexpected data after the JSON object"},
		{"not an object", `[]`, "", "want object, got JSON array"},
		{"empty", " \n", "", "empty: send a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev event
			var e *Error
			if err := Unmarshal([]byte(tt.body), &ev); !errors.As(err, &e) {
				t.Fatalf("error %v, want an *Error", err)
			}
			if e.Field != tt.field || e.Reason != tt.cause {
				t.Errorf("field %q reason %q, want %q %q", e.Field, e.Reason, tt.field, tt.cause)
			}
		})
	}
}

func TestUnmarshalEmptyIsErrEmpty(t *testing.T) {
	var ev event
	if err := Unmarshal(nil, &ev); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty document: %v, want ErrEmpty", err)
	}
	if err := Unmarshal([]byte(`{`), &ev); errors.Is(err, ErrEmpty) {
		t.Errorf("truncated document: %v is ErrEmpty", err)
	}
}

func TestUnmarshalAccepts(t *testing.T) {
	var ev event
	body := `{"idempotencyKey":"jos\u00e9 \\u0000","points":7,"tags":["a"],"at":"2026-12-05T10:00:00+01:00"}`
	if err := Unmarshal([]byte(body), &ev); err != nil {
		t.Fatal(err)
	}
	want := event{IdempotencyKey: `josé \u0000`, Points: 7, Tags: []string{"a"}, At: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)}
	if ev.IdempotencyKey != want.IdempotencyKey || ev.Points != want.Points || len(ev.Tags) != 1 || !ev.At.Equal(want.At) {
		t.Errorf("decoded %+v, want %+v", ev, want)
	}
	// null leaves a time unset, like an absent member.
	var unset event
	if err := Unmarshal([]byte(`{"at":null}`), &unset); err != nil || !unset.At.IsZero() {
		t.Errorf("null time: %+v %v", unset, err)
	}
}

func TestUnmarshalSomeIgnoresUnknownNames(t *testing.T) {
	var typ struct {
		Type string `json:"type"`
	}
	if err := UnmarshalSome([]byte(`{"type":"member","id":"m1"}`), &typ); err != nil || typ.Type != "member" {
		t.Errorf("type %q, %v", typ.Type, err)
	}
	if err := UnmarshalSome([]byte(`{"type":"member","type":"lot"}`), &typ); err == nil {
		t.Errorf("a duplicate name was accepted")
	}
}
