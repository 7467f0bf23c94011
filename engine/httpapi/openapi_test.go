package httpapi

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestOpenAPIDocumentsEveryRoute keeps openapi.yaml and the routes in step:
// every served route is documented, every documented route is served, every
// $ref resolves and every problem code the server emits is listed.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components map[string]map[string]any            `json:"components"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(documented)
	served := []string{
		"GET /healthz", "GET /metrics", "GET /openapi.yaml", "GET /readyz", "GET /v1/analytics",
		"GET /v1/campaigns", "GET /v1/campaigns/{name}", "GET /v1/export",
		"GET /v1/members/{id}", "GET /v1/members/{id}/ledger", "GET /v1/members/{id}/profile-history", "GET /v1/members/{id}/redemptions",
		"GET /v1/status", "PATCH /v1/members/{id}",
		"POST /v1/adjustments", "POST /v1/admin/events/redeliver", "POST /v1/earn", "POST /v1/earn/batch", "POST /v1/earn/price", "POST /v1/import", "POST /v1/members", "POST /v1/members/{id}/erase",
		"POST /v1/members/{id}/membership", "POST /v1/members/{id}/membership/cancel", "POST /v1/members/{id}/membership/pause",
		"POST /v1/members/{id}/membership/renew", "POST /v1/members/{id}/membership/resume",
		"POST /v1/redeem", "POST /v1/redemptions", "POST /v1/redemptions/{code}/cancel", "POST /v1/reverse",
	}
	if !slices.Equal(documented, served) {
		t.Errorf("documented routes %v, served %v", documented, served)
	}

	e := newEnv(t, testSnapshot)
	for _, route := range served {
		method, path, _ := strings.Cut(route, " ")
		path = strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(path, "{id}", "m1"), "{name}", "c1"), "{code}", "X")
		// Without a key or a body: only whether a route answers matters here.
		r := e.send(t, markRequest(e.request(t, method, path, "", nil), requestArbitrary))
		if r.status == 404 && strings.Contains(string(r.body), `"not_found"`) {
			t.Errorf("%s is documented but not served", route)
		}
	}

	for _, ref := range regexp.MustCompile(`\$ref: '#/components/(\w+)/(\w+)'`).FindAllStringSubmatch(string(OpenAPI), -1) {
		if _, ok := doc.Components[ref[1]][ref[2]]; !ok {
			t.Errorf("unresolved $ref %s", ref[0])
		}
	}
	for _, code := range []string{"invalid_request", "unauthorized", "forbidden", "not_found", "member_not_found",
		"event_not_found", "campaign_not_found", "member_exists", "duplicate_event", "idempotency_key_reused", "body_too_large",
		"unsupported_media_type", "insufficient_points", "nothing_to_reverse", "late_event", "rate_limited",
		"internal", "unavailable", "read_aborted", "redemption_not_found", "redemption_cancelled", "store_not_empty",
		"member_erased", "membership_state", "membership_not_found", "unknownReward", "notEligible", "belowMinimumTier", "notAvailable", "limitReached", "outOfStock"} {
		if !strings.Contains(string(OpenAPI), "`"+code+"`") {
			t.Errorf("problem code %s is not documented", code)
		}
	}
}
