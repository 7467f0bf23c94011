package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of Authenticate; the HTTP layer maps them to 401, 403 and 429.
var (
	ErrMissingKey = errors.New("missing API key: send Authorization: Bearer <key>")
	ErrInvalidKey = errors.New("invalid API key")
	ErrForbidden  = errors.New("API key lacks the required scope")
)

// RateLimitedError refuses a client that failed authentication too often.
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return "too many failed authentication attempts from this address"
}

// Authenticator checks bearer keys against the current key set and limits
// failed attempts per client address.
type Authenticator struct {
	keys    atomic.Pointer[Keys]
	limiter *FailureLimiter
	log     *slog.Logger
}

// NewAuthenticator starts with keys; limiter may be nil to disable limiting.
func NewAuthenticator(keys *Keys, limiter *FailureLimiter, log *slog.Logger) *Authenticator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Authenticator{limiter: limiter, log: log}
	a.keys.Store(keys)
	return a
}

// SetKeys replaces the key set; requests in flight keep the set they started with.
func (a *Authenticator) SetKeys(k *Keys) { a.keys.Store(k) }

// Authenticate checks r's bearer key for scope. A client address over its
// failure budget is refused before its key is even looked at, so that
// guessing cannot continue at full speed; clients behind one address share
// the budget, and only failures spend it.
func (a *Authenticator) Authenticate(r *http.Request, scope Scope) error {
	ip := clientIP(r)
	if a.limiter != nil {
		if wait := a.limiter.Blocked(ip, time.Now()); wait > 0 {
			return &RateLimitedError{RetryAfter: wait}
		}
	}
	key, ok := bearer(r)
	if !ok {
		a.fail(ip)
		return ErrMissingKey
	}
	scopes, ok := a.keys.Load().Lookup(key)
	if !ok {
		a.fail(ip)
		return ErrInvalidKey
	}
	if !scopes.Has(scope) {
		// A valid key with the wrong scope is a client bug, not a guess: no penalty.
		return fmt.Errorf("%w: this operation needs a key with scope %s or admin", ErrForbidden, scope)
	}
	return nil
}

func (a *Authenticator) fail(ip string) {
	if a.limiter != nil {
		a.limiter.Fail(ip, time.Now())
	}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	key = strings.TrimSpace(key)
	return key, key != ""
}

// clientIP is the peer address. Forwarding headers are not trusted: behind a
// proxy all clients share its address, which only makes limiting stricter.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// WatchDir reloads the keys of dir into a whenever the files change, polling
// every interval until ctx ends. A directory that fails to load keeps the
// previous keys and logs why.
func (a *Authenticator) WatchDir(ctx context.Context, dir string, interval time.Duration) {
	var last [32]byte // the first poll reloads, covering changes made before the watch began
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fp, err := fingerprint(dir)
		if err != nil || fp == last {
			continue
		}
		k, err := LoadDir(dir)
		if err != nil {
			a.log.Error("API keys not reloaded; keeping the previous keys", "error", err.Error())
			last = fp
			continue
		}
		last = fp
		a.SetKeys(k)
		a.log.Info("API keys reloaded", "keys", k.Len())
	}
}

// FailureLimiter is a token bucket per client address: each failed
// authentication takes a token, tokens refill at a steady rate, and an
// address with an empty bucket is refused until a token is back.
type FailureLimiter struct {
	burst  float64
	per    time.Duration // time to refill one token
	mu     sync.Mutex
	bucket map[string]*tokens
	swept  time.Time
}

type tokens struct {
	n    float64
	last time.Time
}

// NewFailureLimiter allows burst failures at once and one more every per.
func NewFailureLimiter(burst int, per time.Duration) *FailureLimiter {
	return &FailureLimiter{burst: float64(burst), per: per, bucket: map[string]*tokens{}}
}

func (l *FailureLimiter) refill(b *tokens, now time.Time) {
	b.n = min(l.burst, b.n+float64(now.Sub(b.last))/float64(l.per))
	b.last = now
}

// Blocked returns how long ip must wait, or 0 when it may try.
func (l *FailureLimiter) Blocked(ip string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.bucket[ip]
	if !ok {
		return 0
	}
	l.refill(b, now)
	if b.n >= 1 {
		return 0
	}
	return time.Duration((1 - b.n) * float64(l.per))
}

// Fail spends a token of ip.
func (l *FailureLimiter) Fail(ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.bucket[ip]
	if !ok {
		b = &tokens{n: l.burst, last: now}
		l.bucket[ip] = b
	}
	l.refill(b, now)
	b.n = max(0, b.n-1)
	l.sweep(now)
}

// sweep forgets addresses whose buckets are full again, so that the map
// stays bounded by the addresses that failed recently.
func (l *FailureLimiter) sweep(now time.Time) {
	full := time.Duration(l.burst * float64(l.per))
	if now.Sub(l.swept) < full {
		return
	}
	l.swept = now
	for ip, b := range l.bucket {
		if now.Sub(b.last) >= full {
			delete(l.bucket, ip)
		}
	}
}
