package sqlstore

import (
	"bytes"
	"strings"
	"testing"
)

func TestStoredResult(t *testing.T) {
	small := []byte(`{"points":10}`)
	if got := storedResult(small); got != string(small) {
		t.Fatalf("small result stored as %q, want it plain", got)
	}
	large := []byte(`{"campaigns":[` + strings.Repeat(`{"name":"summer","applied":false,"reason":"outsideWindow"},`, 60) + `{}]}`)
	stored := storedResult(large)
	if !strings.HasPrefix(stored, compressedResultPrefix) || len(stored) > len(large)/4 {
		t.Fatalf("large result stored as %d bytes %.20q…, want it compressed", len(stored), stored)
	}
	for _, s := range []string{string(small), stored} {
		got, err := loadResult(s)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool][]byte{true: large, false: small}[s == stored]; !bytes.Equal(got, want) {
			t.Fatalf("loadResult(%.20q…) = %s, want %s", s, got, want)
		}
	}
	for _, bad := range []string{compressedResultPrefix + "!!", compressedResultPrefix + "AAAA"} {
		if _, err := loadResult(bad); err == nil {
			t.Fatalf("loadResult(%q) accepted a corrupt value", bad)
		}
	}
}
