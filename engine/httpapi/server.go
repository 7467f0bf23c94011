// Package httpapi is the points engine's HTTP JSON API, versioned under /v1.
// The OpenAPI document (openapi.yaml, served at /openapi.yaml) describes
// every route, schema and problem; this package maps HTTP to the
// application layer (engine/service) for writes and to the ledger for
// reads, with the configuration in effect and the API keys.
package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/engine/auth"
	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/internal/jsonenc"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/service"
)

// OpenAPI is the API's OpenAPI 3 document.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Body size limits.
const (
	MaxBody      = 1 << 20 // 1 MiB
	MaxBatchBody = 4 << 20 // 4 MiB
)

// Options wire a Server.
type Options struct {
	Ledger ledger.Ledger
	Config *config.Holder
	Auth   *auth.Authenticator
	Logger *slog.Logger
	// Registry receives the metrics and is served at /metrics.
	Registry *prometheus.Registry
	// Metrics, when set, were made by NewMetrics on Registry beforehand, so
	// that the store's commit hook could be wired to them; else New makes them.
	Metrics *Metrics
	// Now is the clock for pricing events; defaults to time.Now.
	Now func() time.Time
	// Outbox, if set, serves POST /v1/admin/events/redeliver.
	Outbox ledger.Outbox
}

// Server serves the API: the writes through the service, the reads from
// the ledger.
type Server struct {
	svc     *service.Service
	ledger  ledger.Ledger
	config  *config.Holder
	auth    *auth.Authenticator
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	mux     *http.ServeMux
	outbox  ledger.Outbox
	// routes lists every registered pattern with the scope it requires, so
	// that a test can prove each one refuses the wrong key.
	routes []route
}

// route is a registered pattern and its scope ("" for none).
type route struct {
	pattern string
	scope   auth.Scope
}

// New builds the server and registers its metrics.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(o.Registry, o.Config)
	}
	o.Registry.MustRegister(&kpiCollector{ledger: o.Ledger, now: o.Now, log: o.Logger})
	registerStoreState(o.Registry, o.Ledger)
	s := &Server{
		svc:     service.New(o.Ledger, o.Config, o.Now),
		ledger:  o.Ledger,
		config:  o.Config,
		auth:    o.Auth,
		log:     o.Logger,
		metrics: o.Metrics,
		now:     o.Now,
		mux:     http.NewServeMux(),
		outbox:  o.Outbox,
	}
	s.handle("POST /v1/members", auth.ScopeIngest, MaxBody, s.enroll)
	s.handle("GET /v1/members/{id}", auth.ScopeRead, 0, s.member)
	s.handle("GET /v1/members/{id}/ledger", auth.ScopeRead, 0, s.history)
	s.handle("PATCH /v1/members/{id}", auth.ScopeIngest, MaxBody, s.patchMember)
	s.handle("POST /v1/members/{id}/erase", auth.ScopeAdmin, MaxBody, s.eraseMember)
	s.handle("GET /v1/members/{id}/profile-history", auth.ScopeRead, 0, s.profileHistory)
	s.handle("POST /v1/members/{id}/membership", auth.ScopeIngest, MaxBody, s.startMembership)
	for _, action := range []string{ledger.ActionRenew, ledger.ActionPause, ledger.ActionResume, ledger.ActionCancel} {
		s.handle("POST /v1/members/{id}/membership/"+action, auth.ScopeIngest, MaxBody, s.changeMembership(action))
	}
	s.handle("GET /v1/campaigns", auth.ScopeRead, 0, s.campaigns)
	s.handle("GET /v1/campaigns/{name}", auth.ScopeRead, 0, s.campaign)
	s.handle("POST /v1/earn", auth.ScopeIngest, MaxBody, s.earn)
	s.handle("POST /v1/earn/batch", auth.ScopeIngest, MaxBatchBody, s.earnBatch)
	s.handle("POST /v1/earn/price", auth.ScopeIngest, MaxBody, s.priceEarn)
	s.handle("POST /v1/redeem", auth.ScopeIngest, MaxBody, s.redeem)
	s.handle("POST /v1/redemptions", auth.ScopeIngest, MaxBody, s.redeemReward)
	s.handle("POST /v1/redemptions/{code}/cancel", auth.ScopeIngest, MaxBody, s.cancelRedemption)
	s.handle("GET /v1/members/{id}/redemptions", auth.ScopeRead, 0, s.redemptions)
	s.handle("POST /v1/reverse", auth.ScopeIngest, MaxBody, s.reverse)
	s.handle("POST /v1/adjustments", auth.ScopeAdmin, MaxBody, s.adjust)
	s.handle("GET /v1/analytics", auth.ScopeRead, 0, s.analytics)
	s.register("GET /v1/export", auth.ScopeAdmin, http.HandlerFunc(s.export))
	s.register("POST /v1/import", auth.ScopeAdmin, http.HandlerFunc(s.importLedger))
	s.handle("POST /v1/admin/events/redeliver", auth.ScopeAdmin, MaxBody, s.redeliver)
	s.handle("GET /v1/status", "", 0, s.status)
	s.handle("GET "+contract.LivenessPath, "", 0, func(*http.Request) (int, any, error) {
		return http.StatusOK, map[string]string{"status": "ok"}, nil
	})
	s.handle("GET "+contract.ReadinessPath, "", 0, s.ready)
	s.register("GET /metrics", "", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	s.register("GET /openapi.yaml", "", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(OpenAPI)
	}))
	s.handle("/", "", 0, func(r *http.Request) (int, any, error) {
		return 0, nil, newProblem(http.StatusNotFound, "not_found", "Not found", "no route for "+r.Method+" "+r.URL.Path)
	})
	return s
}

// Handler is the root handler.
func (s *Server) Handler() http.Handler { return s.mux }

// handlerFunc returns a status and a JSON body, or an error mapped to a problem.
type handlerFunc func(r *http.Request) (int, any, error)

// handle registers pattern behind authentication for scope (none when
// empty), a body limit (none when 0), metrics and logging.
func (s *Server) handle(pattern string, scope auth.Scope, maxBody int64, h handlerFunc) {
	s.register(pattern, scope, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if scope != "" {
			if err := s.auth.Authenticate(r, scope); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		if maxBody > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		status, body, err := h(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if a, ok := body.(jsonenc.Appender); ok {
			// Earn results encode themselves, as json.Encoder would.
			err := jsonenc.Encode(a, func(out []byte) {
				w.WriteHeader(status)
				_, _ = w.Write(append(out, '\n'))
			})
			if err == nil {
				return
			}
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}))
}

// register serves h at pattern, instrumented, and records the route with
// the scope its handler checks.
func (s *Server) register(pattern string, scope auth.Scope, h http.Handler) {
	s.routes = append(s.routes, route{pattern: pattern, scope: scope})
	s.mux.Handle(pattern, s.instrument(pattern, h))
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	if p.Status >= 500 {
		cause := p.cause
		if cause == nil {
			cause = err
		}
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "status", p.Status, "error", cause.Error())
	}
	writeProblem(w, p)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection, for the
// streaming routes' flushes and deadlines.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument records latency by route pattern (never the raw path, which
// would make a time series per member) and logs each request.
func (s *Server) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		// Deferred: a handler that aborts its response (a failed export)
		// panics with http.ErrAbortHandler, and is still recorded.
		defer func() {
			d := time.Since(start)
			s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Observe(d.Seconds())
			level := slog.LevelInfo
			if !strings.HasPrefix(route, "/v1/") && !strings.Contains(route, " /v1/") {
				level = slog.LevelDebug // probes and scrapes would drown the API's requests
			}
			s.log.Log(r.Context(), level, "request", "method", r.Method, "route", route, "path", r.URL.Path,
				"status", rec.status, "duration_ms", float64(d.Microseconds())/1000, "remote", r.RemoteAddr)
		}()
		h.ServeHTTP(rec, r)
	})
}

// StatusReport is the body of GET /v1/status.
type StatusReport struct {
	// Config is the configuration in effect and the last rejected update.
	Config config.Status `json:"config"`
	// ConfigLoaded is true once a valid snapshot is in effect.
	ConfigLoaded bool        `json:"configLoaded"`
	Store        StoreHealth `json:"store"`
}

// StoreHealth reports whether the ledger store answered a ping, and its
// write health: whether it takes writes and, when not or when degraded, why.
type StoreHealth struct {
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	ledger.StoreHealth
}

func (s *Server) storeHealth(ctx context.Context) StoreHealth {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	h := StoreHealth{Reachable: true, StoreHealth: s.ledger.Health()}
	if err := s.ledger.Ping(ctx); err != nil {
		h.Reachable, h.Error = false, err.Error()
	}
	return h
}

func (s *Server) status(r *http.Request) (int, any, error) {
	return http.StatusOK, StatusReport{
		Config:       s.config.Status(),
		ConfigLoaded: s.config.Current() != nil,
		Store:        s.storeHealth(r.Context()),
	}, nil
}

// ready is true only when the store answers and takes writes and a
// configuration is in effect.
func (s *Server) ready(r *http.Request) (int, any, error) {
	if s.config.Current() == nil {
		return 0, nil, unavailable("no configuration loaded: "+s.config.Status().LastError, nil)
	}
	h := s.storeHealth(r.Context())
	if !h.Reachable {
		return 0, nil, unavailable("ledger store unreachable: "+h.Error, errors.New(h.Error))
	}
	if !h.Writable {
		return 0, nil, unavailable("ledger store cannot take writes ("+h.State+"): "+h.Reason, nil)
	}
	return http.StatusOK, map[string]string{"status": "ready"}, nil
}
