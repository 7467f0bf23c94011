package events

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func signed(secret []byte, ts int64, body []byte) http.Header {
	h := http.Header{}
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, "v1="+Sign(secret, ts, body))
	return h
}

func TestVerify(t *testing.T) {
	secret, body := []byte("s3cret"), []byte(`{"id":"1"}`)
	now := time.Unix(1_800_000_000, 0)
	h := signed(secret, now.Unix(), body)
	if err := Verify(secret, h, body, now.Add(time.Minute), DefaultTolerance); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	if err := Verify([]byte("other"), h, body, now, DefaultTolerance); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong secret: %v", err)
	}
	if err := Verify(secret, h, []byte(`{"id":"2"}`), now, DefaultTolerance); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered body: %v", err)
	}
	if err := Verify(secret, h, body, now.Add(6*time.Minute), DefaultTolerance); !errors.Is(err, ErrTooOld) {
		t.Fatalf("replayed late: %v", err)
	}
	if err := Verify(secret, http.Header{}, body, now, DefaultTolerance); !errors.Is(err, ErrNoSignature) {
		t.Fatalf("unsigned: %v", err)
	}
	// While a secret is rotated, either signature verifies.
	h.Set(HeaderSignature, "v1="+Sign([]byte("old"), now.Unix(), body)+" v1="+Sign(secret, now.Unix(), body))
	if err := Verify(secret, h, body, now, DefaultTolerance); err != nil {
		t.Fatalf("rotation: %v", err)
	}
}
