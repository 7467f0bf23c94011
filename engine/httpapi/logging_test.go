package httpapi

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/auth"
	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
)

// syncBuffer collects log output written from the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsHoldNoKeys logs at debug level around failed, refused, successful
// and failing requests, with keys in the header and in the query string,
// and checks that no key appears in the output.
func TestLogsHoldNoKeys(t *testing.T) {
	var out syncBuffer
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store, err := sqlite.Open(t.Context(), sqlite.Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	holder := config.NewHolder(log)
	if err := holder.Apply("test", []byte(testSnapshot)); err != nil {
		t.Fatal(err)
	}
	const guess = "guessed-key-0123456789"
	keys, err := auth.NewKeys(map[auth.Scope][]string{auth.ScopeIngest: {ingestKey}, auth.ScopeRead: {readKey}, auth.ScopeAdmin: {adminKey}})
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.NewAuthenticator(keys, auth.NewFailureLimiter(3, 1), log)
	h := checked(t, New(Options{Ledger: store, Config: holder, Auth: authn, Logger: log}).Handler())

	send := func(method, target, key, body, mark string) int {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if mark != "" {
			markRequest(req, mark)
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, tt := range []struct {
		method, target, key, body string
		want                      int
		mark                      string
	}{
		{"POST", "/v1/members", ingestKey, `{"idempotencyKey":"enroll-m1","memberId":"m1"}`, 201, ""},
		{"GET", "/v1/members/m1", readKey, "", 200, ""},
		{"GET", "/v1/members/m1?key=" + readKey, guess, "", 401, ""},
		{"GET", "/v1/members/m1", "", "", 401, requestInvalid},
		{"POST", "/v1/adjustments", ingestKey, `{"idempotencyKey":"a","memberId":"m1","points":5,"reason":"x"}`, 403, ""},
		{"POST", "/v1/earn", ingestKey, `{"idempotencyKey":"` + adminKey + `"}`, 400, requestInvalid},
		{"GET", "/healthz?token=" + adminKey, "", "", 200, ""},
	} {
		if got := send(tt.method, tt.target, tt.key, tt.body, tt.mark); got != tt.want {
			t.Fatalf("%s %s: %d, want %d", tt.method, tt.target, got, tt.want)
		}
	}
	// A request failing inside the server is logged with its cause.
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if got := send("GET", "/v1/members/m1", adminKey, "", ""); got < 500 {
		t.Fatalf("request on a closed store: %d", got)
	}

	logged := out.String()
	if !strings.Contains(logged, `"msg":"request"`) || !strings.Contains(logged, `"status":401`) || !strings.Contains(logged, `"msg":"request failed"`) {
		t.Fatalf("the requests were not logged:\n%s", logged)
	}
	for name, key := range map[string]string{"ingest": ingestKey, "read": readKey, "admin": adminKey, "guessed": guess} {
		if strings.Contains(logged, key) || strings.Contains(logged, key[:12]) {
			t.Errorf("the %s key appears in the logs:\n%s", name, logged)
		}
	}
	if strings.Contains(strings.ToLower(logged), "bearer") {
		t.Errorf("an Authorization header appears in the logs:\n%s", logged)
	}
}
