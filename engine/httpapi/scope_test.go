package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/auth"
	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
)

// routeScopes is the scope every route requires, "" for the public ones.
// TestEveryRouteRefusesTheWrongScope fails for a registered route missing
// here, so that no route can be added without deciding who may call it.
var routeScopes = map[string]auth.Scope{
	"POST /v1/members":                        auth.ScopeIngest,
	"POST /v1/earn":                           auth.ScopeIngest,
	"POST /v1/earn/batch":                     auth.ScopeIngest,
	"POST /v1/earn/price":                     auth.ScopeIngest,
	"POST /v1/redeem":                         auth.ScopeIngest,
	"POST /v1/redemptions":                    auth.ScopeIngest,
	"POST /v1/redemptions/{code}/cancel":      auth.ScopeIngest,
	"POST /v1/reverse":                        auth.ScopeIngest,
	"PATCH /v1/members/{id}":                  auth.ScopeIngest,
	"POST /v1/members/{id}/erase":             auth.ScopeAdmin,
	"POST /v1/members/{id}/membership":        auth.ScopeIngest,
	"POST /v1/members/{id}/membership/renew":  auth.ScopeIngest,
	"POST /v1/members/{id}/membership/pause":  auth.ScopeIngest,
	"POST /v1/members/{id}/membership/resume": auth.ScopeIngest,
	"POST /v1/members/{id}/membership/cancel": auth.ScopeIngest,
	"POST /v1/admin/events/redeliver":         auth.ScopeAdmin,
	"GET /v1/members/{id}/profile-history":    auth.ScopeRead,
	"GET /v1/members/{id}":                    auth.ScopeRead,
	"GET /v1/members/{id}/ledger":             auth.ScopeRead,
	"GET /v1/members/{id}/redemptions":        auth.ScopeRead,
	"GET /v1/campaigns":                       auth.ScopeRead,
	"GET /v1/campaigns/{name}":                auth.ScopeRead,
	"GET /v1/analytics":                       auth.ScopeRead,
	"POST /v1/adjustments":                    auth.ScopeAdmin,
	"GET /v1/export":                          auth.ScopeAdmin,
	"POST /v1/import":                         auth.ScopeAdmin,
	// Probes, scrapes and the API description carry nothing about members.
	"GET /v1/status":    "",
	"GET /healthz":      "",
	"GET /readyz":       "",
	"GET /metrics":      "",
	"GET /openapi.yaml": "",
	"/":                 "",
}

// keysByScope are the test keys of each scope; admin's is accepted everywhere.
var keysByScope = map[auth.Scope]string{auth.ScopeIngest: ingestKey, auth.ScopeRead: readKey, auth.ScopeAdmin: adminKey}

// TestEveryRouteRefusesTheWrongScope calls every registered route without a
// key (401), with each key that lacks its scope (403) and with each key
// that has it (past authentication, whatever the handler then answers).
func TestEveryRouteRefusesTheWrongScope(t *testing.T) {
	store, err := sqlite.Open(t.Context(), sqlite.Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	holder := config.NewHolder(nil)
	if err := holder.Apply("test", []byte(testSnapshot)); err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewKeys(map[auth.Scope][]string{auth.ScopeIngest: {ingestKey}, auth.ScopeRead: {readKey}, auth.ScopeAdmin: {adminKey}})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Ledger: store, Config: holder, Auth: auth.NewAuthenticator(keys, nil, nil)})

	registered := map[string]bool{}
	for _, rt := range s.routes {
		registered[rt.pattern] = true
		want, ok := routeScopes[rt.pattern]
		if !ok {
			t.Errorf("route %q has no expected scope: add it to routeScopes", rt.pattern)
			continue
		}
		if rt.scope != want {
			t.Errorf("route %q is registered with scope %q, want %q", rt.pattern, rt.scope, want)
		}
	}
	for pattern := range routeScopes {
		if !registered[pattern] {
			t.Errorf("routeScopes lists %q, which is not registered", pattern)
		}
	}

	for _, rt := range s.routes {
		if rt.pattern == "/" {
			continue // the fallback answers 404 to anything
		}
		want := routeScopes[rt.pattern]
		t.Run(rt.pattern, func(t *testing.T) {
			if want == "" {
				if code := call(t, s, rt.pattern, ""); code == http.StatusUnauthorized || code == http.StatusForbidden {
					t.Errorf("public route answered %d without a key", code)
				}
				return
			}
			if code := call(t, s, rt.pattern, ""); code != http.StatusUnauthorized {
				t.Errorf("without a key: %d, want 401", code)
			}
			if code := call(t, s, rt.pattern, "wrong-key-0123456789"); code != http.StatusUnauthorized {
				t.Errorf("with an unknown key: %d, want 401", code)
			}
			for scope, key := range keysByScope {
				allowed := scope == want || scope == auth.ScopeAdmin
				code := call(t, s, rt.pattern, key)
				switch {
				case !allowed && code != http.StatusForbidden:
					t.Errorf("with a %s key: %d, want 403", scope, code)
				case allowed && (code == http.StatusUnauthorized || code == http.StatusForbidden):
					t.Errorf("with a %s key: %d, want the request let through", scope, code)
				}
			}
		})
	}
}

// call sends a request matching pattern, with key as bearer when set, and
// returns the status. A 401 or 403 must be a problem naming the refusal.
func call(t *testing.T, s *Server, pattern, key string) int {
	t.Helper()
	method, path, _ := strings.Cut(pattern, " ")
	path = strings.NewReplacer("{id}", "m1", "{name}", "c1", "{code}", "X").Replace(path)
	var body *strings.Reader
	if method == http.MethodPost {
		body = strings.NewReader("{}")
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, body)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	// The placeholder bodies and missing keys are the point here, not the
	// requests' validity; the responses are checked all the same.
	markRequest(req, requestArbitrary)
	rec := serveChecked(t, s.Handler(), req)
	if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
		var p Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code {
			return -rec.Code // a refusal that is not a problem fails every expectation
		}
	}
	return rec.Code
}
