package config

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// FuzzParse feeds arbitrary documents to Parse. A rejected document must
// come with a *ValidationError naming each bad field and why; an accepted
// one must be canonical: its Marshal parses again to the same bytes and
// hash, so that the hash the engine reports identifies the configuration.
func FuzzParse(f *testing.F) {
	good, err := os.ReadFile("testdata/snapshot.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"version":"loyaltyops.io/snapshot/v1","program":{"name":"p","namespace":"n","displayName":"P","currency":"JPY"},"points":{"earnRate":"1","lateEventGracePeriod":"0s"}}`))
	f.Add([]byte(`{"version":"loyaltyops.io/snapshot/v1","program":{"name":"p","namespace":"n","displayName":"P","currency":"EUR"},"points":{"earnRate":"0.01","rounding":"Ceiling","expiry":{"afterEarn":"1d"},"lateEventGracePeriod":"72h"}}`))
	f.Add([]byte(`{"version":"loyaltyops.io/snapshot/v2"}`))
	f.Add([]byte(`{"version":"loyaltyops.io/snapshot/v1","program":{"name":"p"},"points":{"earnRate":"-1"},"extra":true}`))
	f.Add([]byte(`{"version":"loyaltyops.io/snapshot/v1"} []`))
	f.Add([]byte(`{"points":{"earnRate":1.5}}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Fatalf("Parse error %v (%T) is not a ValidationError naming a field", err, err)
			}
			for _, fe := range ve.Errors {
				if fe.Path == "" || fe.Reason == "" {
					t.Fatalf("Parse error %q has an issue without a field or a reason: %+v", err, fe)
				}
			}
			return
		}
		canon, err := s.Marshal()
		if err != nil {
			t.Fatalf("accepted snapshot does not marshal: %v", err)
		}
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form of an accepted snapshot is rejected: %v\n%s", err, canon)
		}
		if h1, h2 := s.Hash(), again.Hash(); h1 != h2 {
			t.Fatalf("hash changed on re-parse: %s, then %s\n%s", h1, h2, canon)
		}
		if b, _ := again.Marshal(); !bytes.Equal(b, canon) {
			t.Fatalf("canonical form changed on re-parse:\n%s\n%s", canon, b)
		}
	})
}
