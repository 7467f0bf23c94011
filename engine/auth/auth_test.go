package auth

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	ingestKey = "ingest-key-0123456789"
	readKey   = "read-key-0123456789ab"
	adminKey  = "admin-key-0123456789a"
)

func writeKeys(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, dir, map[string]string{
		"ingest": "# shop backends\n" + ingestKey + "\n\n  second-ingest-key-xyz  \n",
		"read":   readKey + "\n" + ingestKey + "\n",
		"admin":  adminKey,
	})
	// A mounted Secret has hidden ..data entries; they are skipped.
	if err := os.Mkdir(filepath.Join(dir, "..data"), 0o700); err != nil {
		t.Fatal(err)
	}
	k, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 4 {
		t.Errorf("Len = %d, want 4 distinct keys", k.Len())
	}
	tests := []struct {
		key                 string
		ok                  bool
		ingest, read, admin bool
	}{
		{key: ingestKey, ok: true, ingest: true, read: true},
		{key: "second-ingest-key-xyz", ok: true, ingest: true},
		{key: readKey, ok: true, read: true},
		{key: adminKey, ok: true, ingest: true, read: true, admin: true},
		{key: "unknown-key-0123456789"},
		{key: ""},
		{key: ingestKey + " "},
	}
	for _, tt := range tests {
		s, ok := k.Lookup(tt.key)
		if ok != tt.ok || s.Has(ScopeIngest) != tt.ingest || s.Has(ScopeRead) != tt.read || s.Has(ScopeAdmin) != tt.admin {
			t.Errorf("Lookup(%q) = %v (%s), want ok=%v ingest=%v read=%v admin=%v", tt.key, ok, s, tt.ok, tt.ingest, tt.read, tt.admin)
		}
	}
}

func TestKeysAreStoredHashed(t *testing.T) {
	k, err := NewKeys(map[Scope][]string{ScopeRead: {readKey}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range k.entries {
		if strings.Contains(string(e.hash[:]), readKey) {
			t.Fatal("key kept in plain text")
		}
	}
}

func TestLoadDirErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{name: "unknown scope", files: map[string]string{"amdin": adminKey}, want: `read API keys: file "amdin" is not a scope: want ingest, read or admin`},
		{name: "short key", files: map[string]string{"read": readKey + "\nshort\n"}, want: `read API keys: read line 2: key shorter than 16 characters`},
		{name: "empty", files: map[string]string{"read": "# none yet\n"}, want: `read API keys: no keys found; add files named ingest, read or admin`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeKeys(t, dir, tt.files)
			_, err := LoadDir(dir)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := LoadDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing directory loaded")
	}
}

func TestAuthenticate(t *testing.T) {
	k, err := NewKeys(map[Scope][]string{ScopeIngest: {ingestKey}, ScopeRead: {readKey}, ScopeAdmin: {adminKey}})
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuthenticator(k, nil, nil)
	tests := []struct {
		header string
		scope  Scope
		want   error
	}{
		{header: "Bearer " + ingestKey, scope: ScopeIngest},
		{header: "bearer " + ingestKey, scope: ScopeIngest},
		{header: "Bearer " + ingestKey, scope: ScopeRead, want: ErrForbidden},
		{header: "Bearer " + readKey, scope: ScopeRead},
		{header: "Bearer " + readKey, scope: ScopeIngest, want: ErrForbidden},
		{header: "Bearer " + readKey, scope: ScopeAdmin, want: ErrForbidden},
		{header: "Bearer " + adminKey, scope: ScopeAdmin},
		{header: "Bearer " + adminKey, scope: ScopeIngest},
		{header: "Bearer " + adminKey, scope: ScopeRead},
		{header: "", scope: ScopeRead, want: ErrMissingKey},
		{header: "Basic dXNlcjpwYXNz", scope: ScopeRead, want: ErrMissingKey},
		{header: "Bearer ", scope: ScopeRead, want: ErrMissingKey},
		{header: "Bearer wrong-key-0123456789", scope: ScopeRead, want: ErrInvalidKey},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		if err := a.Authenticate(r, tt.scope); !errors.Is(err, tt.want) {
			t.Errorf("Authenticate(%q, %s) = %v, want %v", tt.header, tt.scope, err, tt.want)
		}
	}
}

func TestFailureLimiter(t *testing.T) {
	k, _ := NewKeys(map[Scope][]string{ScopeRead: {readKey}})
	l := NewFailureLimiter(3, time.Hour)
	a := NewAuthenticator(k, l, nil)
	req := func(addr, key string) error {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		r.Header.Set("Authorization", "Bearer "+key)
		return a.Authenticate(r, ScopeRead)
	}
	for i := range 3 {
		if err := req("192.0.2.1:1000", "guess-0123456789abcdef"); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("attempt %d: %v, want ErrInvalidKey", i+1, err)
		}
	}
	// The bucket is empty: that key is refused from that address, before
	// it is looked up again.
	var rl *RateLimitedError
	if err := req("192.0.2.1:1001", "guess-0123456789abcdef"); !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Hour {
		t.Fatalf("after 3 failures: %v, want RateLimitedError with a retry within the hour", err)
	}
	// The right key from that address, and the guess from another, are unaffected.
	if err := req("192.0.2.1:1001", readKey); err != nil {
		t.Fatalf("valid key from the same address: %v", err)
	}
	if err := req("192.0.2.2:1000", "guess-0123456789abcdef"); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("other address: %v, want ErrInvalidKey", err)
	}

	// Tokens refill over time.
	guesser := clientID("192.0.2.1", "guess-0123456789abcdef")
	now := time.Now()
	if l.Blocked(guesser, now.Add(30*time.Minute)) == 0 {
		t.Error("unblocked before a token refilled")
	}
	if w := l.Blocked(guesser, now.Add(61*time.Minute)); w != 0 {
		t.Errorf("still blocked after a refill: wait %v", w)
	}
	// Full buckets are forgotten.
	l.Fail("192.0.2.3", now.Add(10*time.Hour))
	if _, ok := l.bucket[guesser]; ok {
		t.Error("stale bucket not swept")
	}
}

func TestWatchDir(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, dir, map[string]string{"read": readKey})
	k, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuthenticator(k, nil, nil)
	go a.WatchDir(t.Context(), dir, 5*time.Millisecond)
	check := func(key string) error {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+key)
		return a.Authenticate(r, ScopeRead)
	}
	const rotated = "rotated-read-key-0123"
	writeKeys(t, dir, map[string]string{"read": rotated})
	waitFor(t, func() bool { return check(rotated) == nil })
	if err := check(readKey); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("old key after rotation: %v", err)
	}
	// A broken update keeps the previous keys.
	writeKeys(t, dir, map[string]string{"read": "short"})
	time.Sleep(50 * time.Millisecond)
	if err := check(rotated); err != nil {
		t.Errorf("broken update dropped the keys: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
