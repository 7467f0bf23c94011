// Package strictjson decodes the JSON the engine is sent (request bodies,
// lines of an export stream) strictly, with the JSON v2 implementation:
// a duplicate or unknown member name, a name that matches a field only
// when case is ignored, invalid UTF-8, a string holding NUL (which
// PostgreSQL cannot store, so a store could never accept it everywhere),
// a time before 1970, and anything after the value are refused. Every
// refusal is an *Error naming the field by its JSON path, such as
// "events[3].points".
package strictjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Error is a refused document. Field is the JSON path of the value at
// fault ("tags[2]", "events[3].points"), "" for the document as a whole.
type Error struct {
	Field  string
	Reason string
	err    error
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func (e *Error) Unwrap() error { return e.err }

// ErrEmpty is wrapped by the Error of a document with nothing but
// whitespace.
var ErrEmpty = errors.New("empty JSON document")

// Epoch bounds the times a document may hold: the store keeps times as
// microseconds since it, and 0001-01-01 is Go's zero time, which the
// engine reads as "not given", so an older time could only be a mistake.
var Epoch = time.Unix(0, 0).UTC()

// Options: besides the v2 defaults (duplicate names and invalid UTF-8
// refused, names matched case-sensitively), times are RFC 3339 after the
// epoch, and, for Unmarshal, every name must be a field of dst.
var (
	strict  = json.JoinOptions(json.RejectUnknownMembers(true), json.WithUnmarshalers(json.UnmarshalFromFunc(unmarshalTime)))
	lenient = json.JoinOptions(json.RejectUnknownMembers(false), json.WithUnmarshalers(json.UnmarshalFromFunc(unmarshalTime)))
)

// Unmarshal decodes b, one JSON value, into dst, refusing any member name
// that dst has no field for.
func Unmarshal(b []byte, dst any) error {
	return unmarshal(b, dst, strict)
}

// UnmarshalSome is Unmarshal ignoring the members dst has no field for:
// to read one field (a record's type) before choosing the type to decode
// the whole into.
func UnmarshalSome(b []byte, dst any) error {
	return unmarshal(b, dst, lenient)
}

func unmarshal(b []byte, dst any, opts json.Options) error {
	if err := json.Unmarshal(b, dst, opts); err != nil {
		return describe(b, err)
	}
	return checkNUL(b)
}

// Reason is an error whose text is reported as the field's reason as it
// is: a type's UnmarshalJSON method returns one to say what is wrong.
type Reason string

func (r Reason) Error() string { return string(r) }

// unmarshalTime reads an RFC 3339 time after the epoch; other JSON kinds
// get the decoder's own type error.
func unmarshalTime(dec *jsontext.Decoder, t *time.Time) error {
	if dec.PeekKind() != '"' {
		return errors.ErrUnsupported // the decoder's own handling
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	s := tok.String()
	parsed, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return Reason(fmt.Sprintf(`invalid time %q: want RFC 3339 such as "2026-12-05T10:00:00Z"`, s))
	}
	if !parsed.After(Epoch) {
		return Reason(fmt.Sprintf("%s: must be after 1970-01-01T00:00:00Z", s))
	}
	*t = parsed
	return nil
}

// describe turns a decoding error of b into an Error naming the field.
func describe(b []byte, err error) *Error {
	var syn *jsontext.SyntacticError
	var sem *json.SemanticError
	var r Reason
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) && len(trimSpace(b)) == 0:
		return &Error{Reason: "empty: send a JSON object", err: ErrEmpty}
	case errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName):
		return &Error{Field: Path(syn.JSONPointer, true), Reason: "duplicate field: a name may appear once in an object", err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Reason: "malformed JSON: unexpected end of input", err: err}
	case errors.As(err, &syn) && afterValue(b, syn):
		return &Error{Reason: "unexpected data after the JSON object", err: err}
	case errors.As(err, &syn):
		return &Error{Field: Path(syn.JSONPointer, false), Reason: fmt.Sprintf("malformed JSON at byte %d: %v", syn.ByteOffset, syn.Err), err: err}
	case errors.As(err, &sem) && errors.Is(sem.Err, json.ErrUnknownName):
		return unknownName(sem)
	case errors.As(err, &sem) && errors.As(sem.Err, &r):
		return &Error{Field: Path(sem.JSONPointer, false), Reason: string(r), err: err}
	case errors.As(err, &sem):
		return &Error{Field: Path(sem.JSONPointer, false), Reason: typeMismatch(sem), err: err}
	}
	return &Error{Reason: err.Error(), err: err}
}

// afterValue reports whether a syntax error is in what follows a whole
// JSON value.
func afterValue(b []byte, syn *jsontext.SyntacticError) bool {
	if syn.JSONPointer != "" || syn.ByteOffset <= 0 || syn.ByteOffset > int64(len(b)) {
		return false
	}
	return jsontext.Value(trimSpace(b[:syn.ByteOffset])).IsValid()
}

// trimSpace drops JSON whitespace around b.
func trimSpace(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }

// unknownName refuses a member dst has no field for, pointing at the field
// it matches when case is ignored: names are case-sensitive.
func unknownName(sem *json.SemanticError) *Error {
	name := sem.JSONPointer.LastToken()
	e := &Error{Field: Path(sem.JSONPointer, true), Reason: fmt.Sprintf("unknown field %q", name), err: sem}
	if name == "" {
		return e // a key "" names no field the client could look for
	}
	e.Reason = "unknown field"
	if want := foldedField(sem.GoType, name); want != "" {
		e.Reason = fmt.Sprintf("unknown field: names are case-sensitive, did you mean %q?", want)
	}
	return e
}

// foldedField is the JSON name of a field of struct type t that equals
// name when case is ignored, or "".
func foldedField(t reflect.Type, name string) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return ""
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		if strings.EqualFold(tag, name) {
			return tag
		}
	}
	return ""
}

// typeMismatch says which JSON kind was sent where another was wanted.
func typeMismatch(sem *json.SemanticError) string {
	got := "JSON " + kindName(sem.JSONKind)
	if sem.JSONKind == '0' && len(sem.JSONValue) > 0 {
		got += " " + string(sem.JSONValue)
	}
	return fmt.Sprintf("want %s, got %s", goKindName(sem.GoType), got)
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}

// goKindName names a Go type the way a JSON client thinks of it.
func goKindName(t reflect.Type) string {
	if t == nil {
		return "another kind of value"
	}
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time string"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Pointer:
		return goKindName(t.Elem())
	}
	return t.Kind().String()
}

// nulEscape is how NUL appears in valid JSON: a raw control character is
// not allowed in a string.
var nulEscape = []byte(`\u0000`)

// checkNUL refuses a string (member name or value) holding NUL. The
// escape is looked for first, so that a document without one (nearly
// every document) is not read again.
func checkNUL(b []byte) error {
	if !bytes.Contains(b, nulEscape) {
		return nil
	}
	dec := jsontext.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil // the document decoded already: this is its end
		}
		if tok.Kind() == '"' && strings.IndexByte(tok.String(), 0) >= 0 {
			return &Error{Field: Path(dec.StackPointer(), false), Reason: `contains a NUL character (\u0000), which no text may hold`}
		}
	}
}

// Path writes a JSON pointer as a field path: "/events/3/points" is
// "events[3].points". A token of digits below the root is taken for an
// array index, except the last one when it names a member (name).
func Path(p jsontext.Pointer, name bool) string {
	var b strings.Builder
	var toks []string
	for tok := range p.Tokens() {
		toks = append(toks, tok)
	}
	for i, tok := range toks {
		last := i == len(toks)-1
		if i > 0 && isIndex(tok) && !(last && name) {
			b.WriteString("[" + tok + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func isIndex(tok string) bool {
	if tok == "" {
		return false
	}
	for _, c := range tok {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
