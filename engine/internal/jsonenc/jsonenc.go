// Package jsonenc appends JSON values to a byte slice exactly as
// encoding/json would encode them. The engine's hottest results (earn and
// batch earn, whose explanations list every campaign) are encoded with it
// by hand: encoding/json spends most of their cost in reflection, and
// re-scans anything pre-encoded it embeds.
//
// Each type's encoder is checked against encoding/json by a test that
// fills every field, so a field added to a type without its encoder fails.
package jsonenc

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Appender is a value that appends its own JSON encoding, byte for byte
// what json.Marshal returns for it.
type Appender interface {
	AppendJSON(dst []byte) ([]byte, error)
}

// Marshal encodes v with its AppendJSON when it has one, else with
// encoding/json.
func Marshal(v any) ([]byte, error) {
	a, ok := v.(Appender)
	if !ok {
		return json.Marshal(v)
	}
	var out []byte
	err := Encode(a, func(enc []byte) { out = bytes.Clone(enc) })
	return out, err
}

// Encode appends a's encoding to a scratch buffer and, when it succeeds,
// hands it to use, which must not keep it.
func Encode(a Appender, use func([]byte)) error {
	buf := buffers.Get().(*[]byte)
	out, err := a.AppendJSON((*buf)[:0])
	if err == nil {
		use(out)
	}
	// Keep what the buffer grew to, unless that is beyond what is worth keeping.
	if cap(out) <= 16<<20 {
		*buf = out[:0]
		buffers.Put(buf)
	}
	return err
}

// buffers are scratch space for encodings: an explanation with many
// campaigns is tens of KB, a batch's response megabytes, and growing a
// fresh slice to that size costs more than the encoding itself.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

const hex = "0123456789abcdef"

// String appends s as a JSON string, escaping like encoding/json: control
// characters, quote and backslash; <, > and & (HTML-safe); U+2028 and
// U+2029; invalid UTF-8 as U+FFFD.
func String(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Int appends n.
func Int(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// Bool appends b.
func Bool(dst []byte, b bool) []byte { return strconv.AppendBool(dst, b) }

// Time appends t like time.Time's MarshalJSON (RFC 3339 with nanoseconds).
func Time(dst []byte, t time.Time) ([]byte, error) {
	if _, offset := t.Zone(); t.Year() < 0 || t.Year() > 9999 || offset <= -24*3600 || offset >= 24*3600 {
		// Outside RFC 3339: MarshalJSON's error.
		_, err := t.MarshalJSON()
		return dst, err
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), nil
}

// Array appends s as a JSON array (null when s is nil, as encoding/json
// encodes a nil slice), appending each element with elem.
func Array[T any](dst []byte, s []T, elem func(*T, []byte) ([]byte, error)) ([]byte, error) {
	if s == nil {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '[')
	for i := range s {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = elem(&s[i], dst); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

// Field appends a field's name and colon, preceded by a comma unless it is
// the object's first field (dst ends with '{').
func Field(dst []byte, name string) []byte {
	if dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}
