// Package auth authenticates API requests with bearer keys.
//
// Keys are read from a directory holding one file per scope, named "ingest",
// "read" or "admin", each with one or more keys, one per line (blank lines and
// lines starting with # are ignored). This is the layout of a Kubernetes
// Secret with those keys mounted as a volume. Only the SHA-256 of each key is
// kept in memory, and a presented key is compared against every stored hash
// in constant time.
//
// Scopes: "ingest" allows writes from shops and apps (enroll, earn, redeem,
// reverse), "read" allows reads, and "admin" allows adjustments and implies
// both "read" and "ingest", so one key serves a support tool that looks a
// member up and corrects them.
package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/loyaltyops/loyalty-operator/contract"
)

// Scope is a permission a key carries.
type Scope string

// Scopes, named as the keys of the API key Secret the operator generates.
const (
	ScopeIngest Scope = contract.APIKeyIngest
	ScopeRead   Scope = contract.APIKeyRead
	ScopeAdmin  Scope = contract.APIKeyAdmin
)

// MinKeyLength rejects keys short enough to guess.
const MinKeyLength = 16

// Scopes is a set of scopes.
type Scopes uint8

const (
	bitIngest Scopes = 1 << iota
	bitRead
	bitAdmin
)

func scopeBit(s Scope) (Scopes, bool) {
	switch s {
	case ScopeIngest:
		return bitIngest, true
	case ScopeRead:
		return bitRead, true
	case ScopeAdmin:
		return bitAdmin, true
	}
	return 0, false
}

// Has reports whether the set allows scope; admin allows everything.
func (s Scopes) Has(scope Scope) bool {
	b, ok := scopeBit(scope)
	return ok && (s&b != 0 || s&bitAdmin != 0)
}

// String lists the scopes held directly, such as "ingest,read".
func (s Scopes) String() string {
	var names []string
	for _, sc := range []Scope{ScopeIngest, ScopeRead, ScopeAdmin} {
		if b, _ := scopeBit(sc); s&b != 0 {
			names = append(names, string(sc))
		}
	}
	return strings.Join(names, ",")
}

type entry struct {
	hash   [sha256.Size]byte
	scopes Scopes
}

// Keys is an immutable set of hashed keys with their scopes.
type Keys struct {
	entries []entry
}

// NewKeys builds a key set from plain keys by scope; for tests and embedding.
func NewKeys(byScope map[Scope][]string) (*Keys, error) {
	k := &Keys{}
	for scope, keys := range byScope {
		for i, key := range keys {
			if err := k.add(scope, key); err != nil {
				return nil, fmt.Errorf("%s key %d: %w", scope, i+1, err)
			}
		}
	}
	return k, nil
}

func (k *Keys) add(scope Scope, key string) error {
	bit, ok := scopeBit(scope)
	if !ok {
		return fmt.Errorf("unknown scope %q: want ingest, read or admin", scope)
	}
	if len(key) < MinKeyLength {
		return fmt.Errorf("key shorter than %d characters", MinKeyLength)
	}
	h := sha256.Sum256([]byte(key))
	for i := range k.entries {
		if k.entries[i].hash == h {
			k.entries[i].scopes |= bit
			return nil
		}
	}
	k.entries = append(k.entries, entry{hash: h, scopes: bit})
	return nil
}

// Len is the number of distinct keys.
func (k *Keys) Len() int { return len(k.entries) }

// Lookup returns the scopes of key. It hashes the key and compares the hash
// with every stored one in constant time, so the time taken does not reveal
// how close a guess was or which entry matched.
func (k *Keys) Lookup(key string) (Scopes, bool) {
	h := sha256.Sum256([]byte(key))
	var found Scopes
	for _, e := range k.entries {
		match := subtle.ConstantTimeCompare(h[:], e.hash[:])
		found |= Scopes(subtle.ConstantTimeSelect(match, int(e.scopes), 0))
	}
	return found, found != 0
}

// LoadDir reads the key files of dir. Names starting with "." are skipped
// (the ..data links of a mounted Secret); any other name must be a scope, so
// that a misspelt file is an error rather than silently ignored keys.
func LoadDir(dir string) (*Keys, error) {
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read API keys: %w", err)
	}
	k := &Keys{}
	for _, de := range names {
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if _, ok := scopeBit(Scope(name)); !ok {
			return nil, fmt.Errorf("read API keys: file %q is not a scope: want ingest, read or admin", name)
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read API keys: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for line := 1; sc.Scan(); line++ {
			key := strings.TrimSpace(sc.Text())
			if key == "" || strings.HasPrefix(key, "#") {
				continue
			}
			if err := k.add(Scope(name), key); err != nil {
				return nil, fmt.Errorf("read API keys: %s line %d: %w", name, line, err)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read API keys: %s: %w", name, err)
		}
	}
	if len(k.entries) == 0 {
		return nil, errors.New("read API keys: no keys found; add files named ingest, read or admin")
	}
	return k, nil
}

// fingerprint summarises the key files so that a poll can tell a change
// without re-parsing; it follows symlinks as a mounted Secret uses them.
func fingerprint(dir string) ([sha256.Size]byte, error) {
	h := sha256.New()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	names := make([]string, 0, len(entries))
	for _, de := range entries {
		if !strings.HasPrefix(de.Name(), ".") {
			names = append(names, de.Name())
		}
	}
	slices.Sort(names)
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(data))
		h.Write(data)
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
