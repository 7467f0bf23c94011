package auth

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFailureLimiterSpendsOnlyGuesses: a missing or unknown key spends the
// address's budget, a valid key of the wrong scope does not (a client bug,
// not a guess), and a success does not refill it.
func TestFailureLimiterSpendsOnlyGuesses(t *testing.T) {
	k, _ := NewKeys(map[Scope][]string{ScopeRead: {readKey}, ScopeIngest: {ingestKey}})
	a := NewAuthenticator(k, NewFailureLimiter(2, time.Hour), nil)
	try := func(header string, scope Scope) error {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "198.51.100.7:4000"
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		return a.Authenticate(r, scope)
	}
	for range 5 {
		if err := try("Bearer "+ingestKey, ScopeRead); !errors.Is(err, ErrForbidden) {
			t.Fatalf("wrong scope: %v, want ErrForbidden", err)
		}
	}
	if err := try("Bearer "+readKey, ScopeRead); err != nil {
		t.Fatalf("after wrong-scope calls only: %v", err)
	}
	if err := try("", ScopeRead); !errors.Is(err, ErrMissingKey) {
		t.Fatalf("no key: %v", err)
	}
	if err := try("Bearer guess-0123456789abcdef", ScopeRead); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("guess: %v", err)
	}
	var rl *RateLimitedError
	if err := try("Bearer "+readKey, ScopeRead); !errors.As(err, &rl) {
		t.Fatalf("after a missing and an unknown key: %v, want RateLimitedError", err)
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
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "203.0.113.9:1"
			r.Header.Set("Authorization", "Bearer guess-0123456789abcdef")
			err := a.Authenticate(r, ScopeRead)
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
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "203.0.113.9:2"
	r.Header.Set("Authorization", "Bearer "+readKey)
	var rl *RateLimitedError
	if err := a.Authenticate(r, ScopeRead); !errors.As(err, &rl) {
		t.Errorf("after 50 guesses: %v, want RateLimitedError", err)
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
