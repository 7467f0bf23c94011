package sqlstore

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/loyaltyops/loyalty-operator/engine/internal/strictjson"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

func lineErr(line int, field, reason string) error {
	return &ledger.FieldError{Field: fmt.Sprintf("line %d: %s", line, field), Reason: reason}
}

// atLine prefixes a FieldError's field with the line.
func atLine(line int, err error) error {
	var fe *ledger.FieldError
	if errors.As(err, &fe) {
		return lineErr(line, fe.Field, fe.Reason)
	}
	return fmt.Errorf("line %d: %w", line, err)
}

// decodeStrict decodes one JSON object strictly (see strictjson): a
// record holding what one store could not keep (NUL, invalid UTF-8) is
// refused by every store.
func decodeStrict(b []byte, dst any) error {
	if err := strictjson.Unmarshal(b, dst); err != nil {
		return jsonIssue(err)
	}
	return nil
}

// jsonIssue turns a decoding error into a FieldError naming the field.
func jsonIssue(err error) error {
	var se *strictjson.Error
	if errors.As(err, &se) {
		return &ledger.FieldError{Field: cmp.Or(se.Field, "(line)"), Reason: se.Reason}
	}
	return &ledger.FieldError{Field: "(line)", Reason: err.Error()}
}
