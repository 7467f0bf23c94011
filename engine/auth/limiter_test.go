package auth

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// authAs authenticates a request from addr presenting header (none when
// empty) for scope.
func authAs(a *Authenticator, addr, header string, scope Scope) error {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = addr
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return a.Authenticate(r, scope)
}

// TestFailureLimiterSpendsOnlyGuesses: a missing or unknown key spends the
// budget of that key from that address, a valid key of the wrong scope
// does not (a client bug, not a guess), and a success does not refill it.
func TestFailureLimiterSpendsOnlyGuesses(t *testing.T) {
	k, _ := NewKeys(map[Scope][]string{ScopeRead: {readKey}, ScopeIngest: {ingestKey}})
	a := NewAuthenticator(k, NewFailureLimiter(2, time.Hour), nil)
	const addr = "198.51.100.7:4000"
	for range 5 {
		if err := authAs(a, addr, "Bearer "+ingestKey, ScopeRead); !errors.Is(err, ErrForbidden) {
			t.Fatalf("wrong scope: %v, want ErrForbidden", err)
		}
	}
	if err := authAs(a, addr, "Bearer "+readKey, ScopeRead); err != nil {
		t.Fatalf("after wrong-scope calls only: %v", err)
	}
	var rl *RateLimitedError
	for _, tc := range []struct {
		header string
		want   error
	}{{"", ErrMissingKey}, {"Bearer guess-0123456789abcdef", ErrInvalidKey}} {
		for i := range 2 {
			if err := authAs(a, addr, tc.header, ScopeRead); !errors.Is(err, tc.want) {
				t.Fatalf("%q, failure %d: %v, want %v", tc.header, i+1, err, tc.want)
			}
		}
		if err := authAs(a, addr, tc.header, ScopeRead); !errors.As(err, &rl) {
			t.Fatalf("%q after 2 failures: %v, want RateLimitedError", tc.header, err)
		}
	}
	if err := authAs(a, addr, "Bearer "+readKey, ScopeRead); err != nil {
		t.Fatalf("a valid key after others' failures from its address: %v", err)
	}
}

// TestFailureLimiterStaleClientBehindSharedAddress: one client behind an
// ingress keeps presenting a rotated key. It is refused once its budget is
// spent; clients behind the same address with valid keys, and a client
// with another wrong key (which has a budget of its own), are not; the
// stale key from another address is not either.
func TestFailureLimiterStaleClientBehindSharedAddress(t *testing.T) {
	k, _ := NewKeys(map[Scope][]string{ScopeRead: {readKey}, ScopeIngest: {ingestKey}})
	a := NewAuthenticator(k, NewFailureLimiter(10, time.Hour), nil)
	const ingress, elsewhere = "10.0.0.1:5000", "10.0.0.2:5000"
	const stale = "Bearer lo_read_rotated-away-0123456789"
	for i := range 10 {
		if err := authAs(a, ingress, stale, ScopeRead); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("stale key, failure %d: %v", i+1, err)
		}
	}
	var rl *RateLimitedError
	for range 100 {
		if err := authAs(a, ingress, stale, ScopeRead); !errors.As(err, &rl) {
			t.Fatalf("stale key past its budget: %v, want RateLimitedError", err)
		}
	}
	for _, tc := range []struct {
		name, addr, header string
		want               error
	}{
		{"a valid read key behind the ingress", ingress, "Bearer " + readKey, nil},
		{"a valid ingest key behind the ingress", ingress, "Bearer " + ingestKey, nil},
		{"another wrong key behind the ingress", ingress, "Bearer lo_read_typo-0123456789abcd", ErrInvalidKey},
		{"no key behind the ingress", ingress, "", ErrMissingKey},
		{"the stale key from another address", elsewhere, stale, ErrInvalidKey},
	} {
		scope := ScopeRead
		if strings.Contains(tc.header, ingestKey) {
			scope = ScopeIngest
		}
		if err := authAs(a, tc.addr, tc.header, scope); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// A reload judges keys afresh: the stale key's failures are forgotten.
	a.SetKeys(k)
	if err := authAs(a, ingress, stale, ScopeRead); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("stale key after a reload: %v, want ErrInvalidKey", err)
	}
}

// TestFailureLimiterBoundsTrackedClients sprays distinct keys: the limiter
// never tracks more clients than its bound, and a client it tracks is
// still limited.
func TestFailureLimiterBoundsTrackedClients(t *testing.T) {
	k, _ := NewKeys(map[Scope][]string{ScopeRead: {readKey}})
	l := NewFailureLimiter(3, time.Hour)
	l.maxTracked = 100
	a := NewAuthenticator(k, l, nil)
	for i := range 1000 {
		if err := authAs(a, "203.0.113.5:1", fmt.Sprintf("Bearer spray-%016d", i), ScopeRead); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("spray %d: %v", i, err)
		}
		if n := l.Tracked(); n > 100 {
			t.Fatalf("after %d keys the limiter tracks %d clients, above its bound of 100", i+1, n)
		}
	}
	if err := authAs(a, "203.0.113.5:1", "Bearer "+readKey, ScopeRead); err != nil {
		t.Errorf("a valid key after the spray: %v", err)
	}
	var rl *RateLimitedError
	for range 3 {
		_ = authAs(a, "203.0.113.6:1", "Bearer stale-0123456789abcdef", ScopeRead)
	}
	if err := authAs(a, "203.0.113.6:1", "Bearer stale-0123456789abcdef", ScopeRead); !errors.As(err, &rl) {
		t.Errorf("a stale client at the bound: %v, want RateLimitedError", err)
	}
}

// TestFailureLimiterConcurrent guesses from many goroutines at once: the
// budget holds exactly, and the race detector watches the buckets.
func TestFailureLimiterConcurrent(t *testing.T) {
	k, _ := NewKeys(map[Scope][]string{ScopeRead: {readKey}})
	a := NewAuthenticator(k, NewFailureLimiter(10, time.Hour), nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for range 50 {
		wg.Go(func() {
			err := authAs(a, "203.0.113.9:1", "Bearer guess-0123456789abcdef", ScopeRead)
			var rl *RateLimitedError
			kind := "other"
			switch {
			case errors.Is(err, ErrInvalidKey):
				kind = "invalid"
			case errors.As(err, &rl):
				kind = "limited"
			}
			mu.Lock()
			counts[kind]++
			mu.Unlock()
		})
	}
	wg.Wait()
	// A check and its spend are separate steps, so guesses racing each other
	// may all pass the check; once they are done, the budget is spent.
	if counts["other"] != 0 || counts["invalid"] < 10 || counts["invalid"]+counts["limited"] != 50 {
		t.Errorf("outcomes %v, want at least 10 invalid and the rest limited", counts)
	}
	var rl *RateLimitedError
	if err := authAs(a, "203.0.113.9:2", "Bearer guess-0123456789abcdef", ScopeRead); !errors.As(err, &rl) {
		t.Errorf("after 50 guesses: %v, want RateLimitedError", err)
	}
	if err := authAs(a, "203.0.113.9:2", "Bearer "+readKey, ScopeRead); err != nil {
		t.Errorf("a valid key from the guessing address: %v", err)
	}
}

// TestKeyReloadLogsNoKeys: neither a broken key file nor a reload puts key
// material in the log.
func TestKeyReloadLogsNoKeys(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, dir, map[string]string{"read": readKey})
	k, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &out}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := NewAuthenticator(k, nil, log)
	go a.WatchDir(t.Context(), dir, 5*time.Millisecond)
	logged := func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}

	const short, rotated = "short-secret", "rotated-read-key-0123"
	if err := os.WriteFile(filepath.Join(dir, "read"), []byte(short+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(logged(), "not reloaded") })
	writeKeys(t, dir, map[string]string{"read": rotated})
	waitFor(t, func() bool { return strings.Contains(logged(), "API keys reloaded") })
	for _, key := range []string{readKey, short, rotated} {
		if strings.Contains(logged(), key) {
			t.Errorf("key %q appears in the log:\n%s", key, logged())
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
