package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// RateLimitedError refuses a client that failed authentication too often
// with the key it presents.
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return "too many failed authentication attempts with this key from this address"
}

// Authenticator checks bearer keys against the current key set and limits
// failed attempts per client address and presented key.
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

// SetKeys replaces the key set; requests in flight keep the set they
// started with. Failures were judged against the previous set, so they are
// forgotten: a client whose key was just added is not refused for having
// presented it too early.
func (a *Authenticator) SetKeys(k *Keys) {
	a.keys.Store(k)
	if a.limiter != nil {
		a.limiter.Reset()
	}
}

// Authenticate checks r's bearer key for scope. Failures are counted per
// client address and presented key: a client retrying a wrong key from an
// address is refused before its key is looked at again, while clients
// behind the same address (an ingress, a NAT) presenting other keys, valid
// ones above all, are not affected. A key that has not failed is always
// looked up, so no one else's failures can lock out a valid key.
func (a *Authenticator) Authenticate(r *http.Request, scope Scope) error {
	key, present := bearer(r)
	client := clientID(clientIP(r), key)
	if a.limiter != nil {
		if wait := a.limiter.Blocked(client, time.Now()); wait > 0 {
			return &RateLimitedError{RetryAfter: wait}
		}
	}
	if !present {
		a.fail(client)
		return ErrMissingKey
	}
	scopes, ok := a.keys.Load().Lookup(key)
	if !ok {
		a.fail(client)
		return ErrInvalidKey
	}
	if !scopes.Has(scope) {
		// A valid key with the wrong scope is a client bug, not a guess: no penalty.
		return fmt.Errorf("%w: this operation needs a key with scope %s or admin", ErrForbidden, scope)
	}
	return nil
}

func (a *Authenticator) fail(client string) {
	if a.limiter != nil {
		a.limiter.Fail(client, time.Now())
	}
}

// clientID names a client for the limiter: its address and a fingerprint
// of the key it presents (empty without one). The fingerprint is a
// truncated SHA-256, so no key, valid or not, is kept in memory.
func clientID(ip, key string) string {
	if key == "" {
		return ip
	}
	h := sha256.Sum256([]byte(key))
	return ip + " " + hex.EncodeToString(h[:8])
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

// FailureLimiter is a token bucket per client (see clientID): each failed
// authentication takes a token, tokens refill at a steady rate, and a
// client with an empty bucket is refused until a token is back. It tracks
// at most maxTracked clients, so that a flood of distinct keys cannot grow
// it without bound.
type FailureLimiter struct {
	burst      float64
	per        time.Duration // time to refill one token
	maxTracked int
	mu         sync.Mutex
	bucket     map[string]*tokens
	swept      time.Time
}

type tokens struct {
	n    float64
	last time.Time
}

// DefaultMaxTracked is how many clients a FailureLimiter tracks at most:
// about 1 MiB of buckets.
const DefaultMaxTracked = 10_000

// NewFailureLimiter allows burst failures at once and one more every per,
// per client, tracking at most DefaultMaxTracked clients.
func NewFailureLimiter(burst int, per time.Duration) *FailureLimiter {
	return &FailureLimiter{burst: float64(burst), per: per, maxTracked: DefaultMaxTracked, bucket: map[string]*tokens{}}
}

func (l *FailureLimiter) refill(b *tokens, now time.Time) {
	b.n = min(l.burst, b.n+float64(now.Sub(b.last))/float64(l.per))
	b.last = now
}

// Blocked returns how long the client must wait, or 0 when it may try.
func (l *FailureLimiter) Blocked(client string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.bucket[client]
	if !ok {
		return 0
	}
	l.refill(b, now)
	if b.n >= 1 {
		return 0
	}
	return time.Duration((1 - b.n) * float64(l.per))
}

// Fail spends a token of the client.
func (l *FailureLimiter) Fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.bucket[client]
	if !ok {
		l.makeRoom(now)
		b = &tokens{n: l.burst, last: now}
		l.bucket[client] = b
	}
	l.refill(b, now)
	b.n = max(0, b.n-1)
	l.sweep(now)
}

// Reset forgets every client.
func (l *FailureLimiter) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.bucket)
}

// Tracked is the number of clients tracked.
func (l *FailureLimiter) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.bucket)
}

// sweep forgets clients whose buckets are full again, so that the map
// stays bounded by the clients that failed recently.
func (l *FailureLimiter) sweep(now time.Time) {
	full := time.Duration(l.burst * float64(l.per))
	if now.Sub(l.swept) < full {
		return
	}
	l.forgetRefilled(now)
}

func (l *FailureLimiter) forgetRefilled(now time.Time) {
	full := time.Duration(l.burst * float64(l.per))
	l.swept = now
	for id, b := range l.bucket {
		if now.Sub(b.last) >= full {
			delete(l.bucket, id)
		}
	}
}

// makeRoom keeps a new client within maxTracked: clients whose buckets are
// full again go first (looked for at most once a refill period, so that a
// flood of new keys does not scan the map on every failure), then clients
// at random. A client forgotten early only gets its burst back.
func (l *FailureLimiter) makeRoom(now time.Time) {
	if len(l.bucket) < l.maxTracked {
		return
	}
	if now.Sub(l.swept) >= l.per {
		l.forgetRefilled(now)
	}
	for id := range l.bucket {
		if len(l.bucket) < l.maxTracked {
			return
		}
		delete(l.bucket, id)
	}
}

// KeyID names the API key a request carries without revealing it: "key-"
// and the first 12 hex digits of its SHA-256, which whoever holds the
// keys can compute to tell which key made a change. Empty without a key.
func KeyID(r *http.Request) string {
	key, ok := bearer(r)
	if !ok {
		return ""
	}
	h := sha256.Sum256([]byte(key))
	return "key-" + hex.EncodeToString(h[:6])
}
