package sqlstore

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/klauspost/compress/s2"
)

// A stored result (the answer a replay returns) is kept compressed when it
// is large: an earn's explanation lists every campaign of the program, and
// with dozens of campaigns its JSON is ten times what the rest of the earn
// writes. Small results stay plain JSON. The compressed form is text (the
// column is text in both dialects): a prefix no JSON value starts with,
// then base64 of the S2-compressed JSON. Exports carry the plain JSON.
const (
	compressedResultPrefix = "s2:"
	compressResultsFrom    = 1024 // bytes of JSON
)

// storedResult is the column value of a result.
func storedResult(result []byte) string {
	if len(result) < compressResultsFrom {
		return string(result)
	}
	return compressedResultPrefix + base64.RawStdEncoding.EncodeToString(s2.Encode(nil, result))
}

// loadResult is the JSON of a stored result column value.
func loadResult(stored string) ([]byte, error) {
	packed, ok := strings.CutPrefix(stored, compressedResultPrefix)
	if !ok {
		return []byte(stored), nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(packed)
	if err != nil {
		return nil, fmt.Errorf("decode stored result: %w", err)
	}
	result, err := s2.Decode(nil, raw)
	if err != nil {
		return nil, fmt.Errorf("decompress stored result: %w", err)
	}
	return result, nil
}
