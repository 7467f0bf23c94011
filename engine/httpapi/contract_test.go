package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The document is the contract: every handler a test serves is wrapped by
// checked, which validates each request and each response against
// openapi.yaml with kin-openapi, so that a field, status, content type or
// enum value the engine and the document disagree on fails the test.

// contractRequestHeader marks a request whose validity the test does not
// claim; checked removes it before validating and serving the request. The
// response is validated whatever the mark.
const contractRequestHeader = "Contract-Request"

const (
	// requestInvalid marks a request the document refuses on purpose, to
	// test the engine's 4xx problems: it must fail validation, so that the
	// mark cannot outlive the test's reason for it.
	requestInvalid = "invalid"
	// requestArbitrary marks a request whose validity is beside the test's
	// point: fuzzed input, or placeholder bodies sent to probe routes.
	requestArbitrary = "arbitrary"
)

// apiContract is openapi.yaml, loaded and routed once for every test.
type apiContract struct {
	doc    *openapi3.T
	router routers.Router
}

var loadContract = sync.OnceValues(func() (*apiContract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.yaml: %w", err)
	}
	return &apiContract{doc: doc, router: router}, nil
})

// checked wraps h so that every request it serves and every response it
// writes is validated against openapi.yaml; each mismatch fails t with the
// method, path, status and the validator's message.
func checked(t testing.TB, h http.Handler) http.Handler {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mark := r.Header.Get(contractRequestHeader)
		r.Header.Del(contractRequestHeader)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("contract: %s %s: read the request body: %v", r.Method, r.URL.Path, err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &teeRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		resp := rec.result()
		for _, msg := range c.check(r, body, mark, resp) {
			t.Errorf("contract: %s %s → %d: %s", r.Method, r.URL.RequestURI(), resp.status, msg)
		}
	})
}

// exchange is a response as the client received it.
type exchange struct {
	status int
	header http.Header
	body   []byte
}

// teeRecorder passes a response through and keeps a copy to validate.
type teeRecorder struct {
	http.ResponseWriter
	status int
	header http.Header
	body   bytes.Buffer
}

func (r *teeRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		r.header = r.ResponseWriter.Header().Clone()
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *teeRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection, as the
// streaming routes need.
func (r *teeRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *teeRecorder) result() exchange {
	if r.status == 0 {
		return exchange{status: http.StatusOK, header: r.ResponseWriter.Header().Clone()}
	}
	return exchange{status: r.status, header: r.header, body: r.body.Bytes()}
}

// check validates the request (unless its mark says otherwise) and the
// response, and returns what does not match the document.
func (c *apiContract) check(r *http.Request, body []byte, mark string, resp exchange) []string {
	route, params, err := c.router.FindRoute(validationRequest(r, body))
	if err != nil {
		// An unknown route is a request the document cannot describe, so
		// only a test sending it on purpose may; the answer is still the
		// documented 404 problem.
		var msgs []string
		if mark != requestInvalid && mark != requestArbitrary {
			msgs = append(msgs, fmt.Sprintf("request: %v", err))
		}
		return append(msgs, c.checkUnrouted(resp)...)
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    validationRequest(r, body),
		PathParams: params,
		Route:      route,
		Options:    filterOptions(),
	}
	var msgs []string
	reqErr := c.checkRequest(in, body)
	switch {
	case reqErr != nil && mark == "":
		msgs = append(msgs, "request does not match the document: "+reqErr.Error())
	case reqErr == nil && mark == requestInvalid:
		msgs = append(msgs, "request marked invalid matches the document: drop the mark or make the request invalid")
	}
	if err := c.checkResponse(in, resp); err != nil {
		msgs = append(msgs, "response does not match the document: "+err.Error())
	}
	return msgs
}

// validationRequest is a copy of r reading body, for the validator to consume.
func validationRequest(r *http.Request, body []byte) *http.Request {
	v := r.Clone(r.Context())
	v.Body = io.NopCloser(bytes.NewReader(body))
	return v
}

func (c *apiContract) checkRequest(in *openapi3filter.RequestValidationInput, body []byte) error {
	if !isStream(in.Request.Header) {
		return openapi3filter.ValidateRequest(context.Background(), in)
	}
	// The library decodes a body as one value; an NDJSON body is a value a
	// line, each described by the media type's schema.
	in.Options.ExcludeRequestBody = true
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return err
	}
	rb := in.Route.Operation.RequestBody
	switch {
	case rb == nil:
		return errors.New("the operation takes no request body")
	case len(body) == 0 && rb.Value.Required:
		return errors.New("the request body is required")
	}
	return checkNDJSON(rb.Value.Content, in.Request.Header, body)
}

func (c *apiContract) checkResponse(req *openapi3filter.RequestValidationInput, resp exchange) error {
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: req,
		Status:                 resp.status,
		Header:                 resp.header,
		Options:                filterOptions(),
	}
	in.SetBodyBytes(resp.body)
	isNDJSON := isStream(resp.header)
	in.Options.ExcludeResponseBody = isNDJSON
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return err
	}
	if !isNDJSON {
		return nil
	}
	declared := req.Route.Operation.Responses.Status(resp.status)
	return checkNDJSON(declared.Value.Content, resp.header, resp.body)
}

// checkUnrouted validates the answer to a request no operation matches:
// the 404 problem every unknown route gets.
func (c *apiContract) checkUnrouted(resp exchange) []string {
	if resp.status != http.StatusNotFound {
		return []string{fmt.Sprintf("status %d for an unknown route, want 404", resp.status)}
	}
	content := c.doc.Components.Responses["NotFound"].Value.Content
	mt := content.Get(resp.header.Get("Content-Type"))
	if mt == nil {
		return []string{fmt.Sprintf("content type %q is not declared for NotFound", resp.header.Get("Content-Type"))}
	}
	v, err := openapi3filter.JSONBodyDecoder(bytes.NewReader(resp.body), resp.header, mt.Schema, nil)
	if err == nil {
		err = mt.Schema.Value.VisitJSON(v, schemaOptions(openapi3.VisitAsResponse())...)
	}
	if err != nil {
		return []string{"response does not match NotFound: " + err.Error()}
	}
	return nil
}

// checkNDJSON validates each line of body against the schema content
// declares for its media type.
func checkNDJSON(content openapi3.Content, header http.Header, body []byte) error {
	mt := content.Get(header.Get("Content-Type"))
	if mt == nil {
		return fmt.Errorf("content type %q is not declared", header.Get("Content-Type"))
	}
	lines := bufio.NewScanner(bytes.NewReader(body))
	lines.Buffer(nil, MaxBody)
	for n := 1; lines.Scan(); n++ {
		v, err := openapi3filter.JSONBodyDecoder(bytes.NewReader(lines.Bytes()), header, mt.Schema, nil)
		if err == nil {
			err = mt.Schema.Value.VisitJSON(v, schemaOptions()...)
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	return lines.Err()
}

// filterOptions validate requests and responses: a response's status must
// be declared, a request must carry a bearer key where the document asks
// for one, and a schema mismatch is told briefly.
func filterOptions() *openapi3filter.Options {
	o := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: bearerPresent}
	o.WithCustomSchemaErrorFunc(briefSchemaError)
	return o
}

// schemaOptions validate a value as openapi3filter does for an OpenAPI 3.1
// document, with brief messages.
func schemaOptions(more ...openapi3.SchemaValidationOption) []openapi3.SchemaValidationOption {
	return append(more, openapi3.EnableJSONSchema2020(), openapi3.SetSchemaErrorMessageCustomizer(briefSchemaError))
}

// briefSchemaError tells where and why a value fails its schema, without
// the library's dump of the schema and the value (a batch body's dump runs
// to megabytes).
func briefSchemaError(err *openapi3.SchemaError) string {
	reason := err.Reason
	if reason == "" {
		reason = "does not match the schema's " + err.SchemaField
	}
	if ptr := err.JSONPointer(); len(ptr) > 0 {
		return "at /" + strings.Join(ptr, "/") + ": " + reason
	}
	return reason
}

// bearerPresent checks what the document can know of the security scheme:
// a bearer key is sent. Whether the engine knows it is the engine's to say.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	key, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	if !ok || key == "" {
		return in.NewError(errors.New("no bearer key"))
	}
	return nil
}

// isStream reports whether h's Content-Type is one of the NDJSON media
// types the export and the import use.
func isStream(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == ndjson || mt == "application/jsonl"
}

// markRequest sets the contract mark of req.
func markRequest(req *http.Request, mark string) *http.Request {
	req.Header.Set(contractRequestHeader, mark)
	return req
}

// serveChecked serves req with h, checked, and returns the recorded response.
func serveChecked(t testing.TB, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	checked(t, h).ServeHTTP(rec, req)
	return rec
}

// failureRecorder collects what a contract check reports instead of
// failing the test, so that a test can assert the check fails.
type failureRecorder struct {
	testing.TB
	mu       sync.Mutex
	failures []string
}

func (f *failureRecorder) Helper() {}

func (f *failureRecorder) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, fmt.Sprintf(format, args...))
}

// TestContractCatchesDrift serves stand-in handlers that drift from the
// document, and requests that do, and checks that the contract check fails
// for each with a message naming what drifted; and that it passes an
// exchange that matches.
func TestContractCatchesDrift(t *testing.T) {
	const (
		problemJSON = "application/problem+json"
		notFound    = `{"type":"https://loyaltyops.io/problems/member_not_found","title":"Not found","status":404,"code":"member_not_found"}`
		memberView  = `"enrolledAt":"2026-01-01T00:00:00Z","available":0,"pending":0,"lifetimeEarned":0,` +
			`"expiringSoon":0,"expiringBy":"2026-02-01T00:00:00Z","referralsMade":0,"referralsConverted":0`
		quote = `{"memberId":"m1","eventId":"e1","points":3,"pending":false,` +
			`"availableAt":"2026-01-01T00:00:00Z","explanation":{"kind":"purchase","rounding":"Floor",` +
			`"base":{"exact":"3","points":3,"message":"m"},"pointsWithoutCampaigns":3,"campaignBonus":0,"campaignPointsGranted":0,` +
			`"points":3,"campaigns":[{"name":"c","stacking":"%s","priority":0,"applied":false,"attributed":0,"granted":0}]}}`
	)
	earn := `{"idempotencyKey":"k","memberId":"m1","eventId":"e1","amount":"2","occurredAt":"2026-01-01T00:00:00Z"}`
	tests := []struct {
		name         string
		method, path string
		body         string
		mark         string
		// the stand-in's answer
		status      int
		contentType string
		header      map[string]string
		answer      string
		// want is in the failure; "" for an exchange that matches.
		want string
	}{
		{name: "matching exchange", method: "GET", path: "/v1/members/m1",
			status: 200, contentType: "application/json", answer: `{"memberId":"m1",` + memberView + `}`},
		{name: "matching refusal of a marked request", method: "POST", path: "/v1/earn", body: `{"points":5}`, mark: requestInvalid,
			status: 400, contentType: problemJSON, answer: `{"type":"t","title":"Invalid","status":400,"code":"invalid_request","errors":[{"field":"points","reason":"unknown field"}]}`},
		{name: "member id renamed", method: "POST", path: "/v1/members", body: `{"idempotencyKey":"k","memberId":"m1"}`,
			status: 201, contentType: "application/json", answer: `{"member":{"id":"m1","enrolledAt":"2026-01-01T00:00:00Z"}}`,
			want: `at /member`},
		{name: "undeclared field", method: "GET", path: "/v1/members/m1",
			status: 200, contentType: "application/json", answer: `{"memberId":"m1",` + memberView + `,"vip":true}`,
			want: `"vip"`},
		{name: "enum value off the document", method: "POST", path: "/v1/earn/price", body: earn,
			status: 200, contentType: "application/json", answer: fmt.Sprintf(quote, "stack"),
			want: "stacking"},
		{name: "undeclared status", method: "GET", path: "/healthz",
			status: http.StatusTeapot, contentType: "application/json", answer: `{"status":"ok"}`,
			want: "status is not supported"},
		{name: "undeclared content type", method: "GET", path: "/healthz",
			status: 200, contentType: "text/html", answer: `<p>ok</p>`,
			want: "text/html"},
		{name: "problem of the wrong shape", method: "GET", path: "/v1/members/m1",
			status: 404, contentType: problemJSON, answer: strings.Replace(notFound, `"status":404`, `"status":"404"`, 1),
			want: "/status"},
		{name: "Retry-After not in seconds", method: "GET", path: "/readyz",
			status: 503, contentType: problemJSON, header: map[string]string{"Retry-After": "soon"},
			answer: `{"type":"t","title":"Unavailable","status":503,"code":"unavailable"}`,
			want:   "Retry-After"},
		{name: "export line off the document", method: "GET", path: "/v1/export",
			status: 200, contentType: ndjson, answer: "{\"type\":\"header\"}\n{\"type\":\"customer\"}\n",
			want: "line 2"},
		{name: "request off the document", method: "POST", path: "/v1/earn", body: `{"points":5}`,
			status: 400, contentType: problemJSON, answer: `{"type":"t","title":"Invalid","status":400,"code":"invalid_request"}`,
			want: "request does not match the document"},
		{name: "request marked invalid that is valid", method: "POST", path: "/v1/earn/price", body: earn, mark: requestInvalid,
			status: 200, contentType: "application/json", answer: fmt.Sprintf(quote, "Stack"),
			want: "request marked invalid matches the document"},
		{name: "unknown route answered", method: "GET", path: "/v2/members", mark: requestInvalid,
			status: 200, contentType: "application/json", answer: `{}`,
			want: "for an unknown route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			standIn := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, err := io.ReadAll(r.Body); err != nil {
					t.Error(err)
				}
				w.Header().Set("Content-Type", tt.contentType)
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.answer)
			})
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+adminKey)
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tt.mark != "" {
				markRequest(req, tt.mark)
			}
			rec := &failureRecorder{TB: t}
			serveChecked(rec, standIn, req)
			got := strings.Join(rec.failures, "\n")
			switch {
			case tt.want == "" && got != "":
				t.Errorf("a matching exchange failed the check:\n%s", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("the check reported %q, want a failure naming %q", got, tt.want)
			case tt.want != "" && !strings.Contains(got, tt.method+" "+tt.path+" → "+strconv.Itoa(tt.status)):
				t.Errorf("the failure %q does not name the method, path and status", got)
			}
		})
	}
}

// TestEveryTestServerIsChecked keeps the contract check from being
// bypassed: in the package's tests, a Server's handler is only ever served
// wrapped by checked or serveChecked. Benchmarks measure the server alone.
func TestEveryTestServerIsChecked(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if name == "bench_test.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		wrapped := map[ast.Expr]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if fn, ok := call.Fun.(*ast.Ident); ok && (fn.Name == "checked" || fn.Name == "serveChecked") && len(call.Args) > 1 {
					wrapped[call.Args[1]] = true
				}
			}
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Handler" && len(n.Args) == 0 && !wrapped[n] {
					t.Errorf("%s: a handler served without the contract check: wrap it with checked", fset.Position(n.Pos()))
				}
			case *ast.SelectorExpr:
				if n.Sel.Name == "mux" {
					t.Errorf("%s: the server's mux is used directly: serve checked(t, s.Handler())", fset.Position(n.Pos()))
				}
			}
			return true
		})
	}
}
