package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The webhook signature headers. The signature is HMAC-SHA256, keyed with
// the sink's secret, over the timestamp, a dot and the raw body; it is
// sent hex-encoded after "v1=" (several, space-separated, while a secret
// is rotated). The timestamp is Unix seconds; a receiver refuses one older
// than its tolerance, so a captured request cannot be replayed later.
const (
	HeaderTimestamp = "Loyalty-Timestamp"
	HeaderSignature = "Loyalty-Signature"
)

// DefaultTolerance is how old a timestamp Verify accepts by default.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("no signature headers")
	ErrTooOld       = errors.New("timestamp outside the tolerance")
	ErrBadSignature = errors.New("no signature matches")
)

// Sign is the HMAC-SHA256 of "timestamp.body" with the secret, hex-encoded.
func Sign(secret []byte, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a webhook request's signature headers against its raw body
// and the secret, refusing a timestamp further than tolerance from now.
// Receivers may copy it (it needs only the standard library).
func Verify(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	tsText, sigs := h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if tsText == "" || sigs == "" {
		return ErrNoSignature
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q: %w", HeaderTimestamp, tsText, err)
	}
	if age := now.Sub(time.Unix(ts, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: %s old", ErrTooOld, age)
	}
	want := []byte(Sign(secret, ts, body))
	for _, s := range strings.Fields(sigs) {
		if v, ok := strings.CutPrefix(s, "v1="); ok && hmac.Equal([]byte(v), want) {
			return nil
		}
	}
	return ErrBadSignature
}
