// Command points-engine serves a loyalty program's points API over a ledger
// store (SQLite or PostgreSQL), with its configuration snapshot loaded from a
// file or a ConfigMap and hot-reloaded.
//
// Every flag can also be set by the environment variable named in its help;
// a flag given on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
	_ "time/tzdata" // program time zones load in a distroless image, which has no zoneinfo

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/engine/auth"
	"github.com/loyaltyops/loyalty-operator/engine/background"
	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/config/k8swatch"
	"github.com/loyaltyops/loyalty-operator/engine/events"
	"github.com/loyaltyops/loyalty-operator/engine/httpapi"
	"github.com/loyaltyops/loyalty-operator/engine/process"
	"github.com/loyaltyops/loyalty-operator/engine/report"
	"github.com/loyaltyops/loyalty-operator/engine/service"
	"github.com/loyaltyops/loyalty-operator/engine/store/postgres"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlstore"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "points-engine:", err)
		os.Exit(1)
	}
}

type options struct {
	listen          string
	store           string
	sqlitePath      string
	postgresURL     string
	postgresSchema  string
	postgresWriters int
	configFile      string
	configConfigMap string
	configKey       string
	kubeconfig      string
	apiKeysDir      string
	dueInterval     time.Duration
	birthdayEvery   time.Duration
	tierPassRate    float64
	shutdownTimeout time.Duration
	logLevel        string
	debugListen     string
	walLimit        byteSize
	maxReadAge      time.Duration
}

// byteSize is a flag of a size in bytes, written as a Kubernetes quantity
// ("64Mi", "1Gi").
type byteSize int64

func (b *byteSize) String() string {
	return resource.NewQuantity(int64(*b), resource.BinarySI).String()
}

func (b *byteSize) Set(v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return errors.New(`want a size such as "64Mi" or "1Gi"`)
	}
	*b = byteSize(q.Value())
	return nil
}

// Bounds of --sqlite-wal-limit: below a few MiB the log is truncated
// every few commits, and the reserve kept on the volume is as large.
const (
	minWALLimit = 1 << 20
	maxWALLimit = 16 << 30
)

// flagOutput receives usage and flag errors.
var flagOutput io.Writer = os.Stderr

// envName finds the environment variable a flag's usage names at its end.
var envName = regexp.MustCompile(`\(([A-Z_]+)\)$`)

// setFromEnv gives each flag the value of the environment variable its usage
// names, so that the command line still wins. Usage keeps printing the
// built-in defaults, never a value from the environment, which may hold a
// password (DATABASE_URL).
func setFromEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		m := envName.FindStringSubmatch(f.Usage)
		if m == nil || err != nil {
			return
		}
		if v := os.Getenv(m[1]); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q for --%s: %w", m[1], v, f.Name, serr)
			}
		}
	})
	return err
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("points-engine", flag.ContinueOnError)
	fs.SetOutput(flagOutput)
	fs.StringVar(&o.listen, "listen", ":8080", "address to serve the API on (LISTEN_ADDR)")
	fs.StringVar(&o.store, "store", "sqlite", "ledger store: sqlite or postgres (STORE)")
	fs.StringVar(&o.sqlitePath, "sqlite-path", "/data/ledger.db", "SQLite database file (SQLITE_PATH)")
	fs.StringVar(&o.postgresURL, "postgres-url", "", "PostgreSQL connection URL ("+contract.EnvDatabaseURL+")")
	fs.StringVar(&o.postgresSchema, "postgres-schema", "", "PostgreSQL schema, created if missing (POSTGRES_SCHEMA)")
	fs.IntVar(&o.postgresWriters, "postgres-writers", 4, "PostgreSQL writer connections, each committing its share of members' writes together (POSTGRES_WRITERS)")
	fs.StringVar(&o.configFile, "config-file", "", "configuration snapshot file, polled for changes (CONFIG_FILE)")
	fs.StringVar(&o.configConfigMap, "config-configmap", "", "namespace/name of the ConfigMap holding the snapshot (CONFIG_CONFIGMAP)")
	fs.StringVar(&o.configKey, "config-key", contract.SnapshotKey, "ConfigMap key of the snapshot (CONFIG_KEY)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig for --config-configmap; in-cluster credentials when empty (KUBECONFIG)")
	fs.StringVar(&o.apiKeysDir, "api-keys-dir", "", "directory of API key files named by scope: ingest, read, admin (API_KEYS_DIR)")
	fs.DurationVar(&o.dueInterval, "due-interval", 5*time.Second, "how often pending points are released and expired points removed (DUE_INTERVAL)")
	fs.DurationVar(&o.birthdayEvery, "birthday-interval", time.Minute, "how often the members whose birthday window holds now are granted the program's birthday points; a member's first earn in the window grants them sooner (BIRTHDAY_INTERVAL)")
	fs.Float64Var(&o.tierPassRate, "tier-pass-rate", 500, "members a second at most whose tier the periodic pass re-evaluates, so that it stays background work (TIER_PASS_RATE)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may take to finish on SIGTERM (SHUTDOWN_TIMEOUT)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error (LOG_LEVEL)")
	fs.StringVar(&o.debugListen, "debug-listen", "", "address serving Go profiles at /debug/pprof/, off when empty; keep it on loopback (DEBUG_LISTEN)")
	o.walLimit = sqlite.DefaultWALLimit
	fs.Var(&o.walLimit, "sqlite-wal-limit", "SQLite write-ahead log size above which writes pause for a checkpoint that truncates it, and the size of the reserve kept on the volume for a checkpoint when it fills; 1Mi to 16Gi (SQLITE_WAL_LIMIT)")
	fs.DurationVar(&o.maxReadAge, "max-read-age", sqlstore.DefaultMaxReadAge, "longest a read (an export, an analytics query) may hold its snapshot of the ledger before it is aborted; 1s to 24h (MAX_READ_AGE)")
	if err := setFromEnv(fs); err != nil {
		return o, err
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case (o.configFile == "") == (o.configConfigMap == ""):
		return o, errors.New("set exactly one of --config-file or --config-configmap")
	case o.apiKeysDir == "":
		return o, errors.New("--api-keys-dir is required")
	case o.store != "sqlite" && o.store != "postgres":
		return o, fmt.Errorf("--store %q: want sqlite or postgres", o.store)
	case o.store == "postgres" && o.postgresURL == "":
		return o, errors.New("--store=postgres needs --postgres-url or " + contract.EnvDatabaseURL)
	case o.postgresWriters < 1 || o.postgresWriters > 64:
		return o, fmt.Errorf("--postgres-writers %d: want 1 to 64", o.postgresWriters)
	case o.dueInterval <= 0:
		return o, errors.New("--due-interval must be positive")
	case o.birthdayEvery <= 0:
		return o, errors.New("--birthday-interval must be positive")
	case !(o.tierPassRate > 0):
		return o, fmt.Errorf("--tier-pass-rate %v: must be a positive number of members a second", o.tierPassRate)
	case o.walLimit < minWALLimit || o.walLimit > maxWALLimit:
		return o, fmt.Errorf("--sqlite-wal-limit %s: want 1Mi to 16Gi", o.walLimit.String())
	case o.maxReadAge < time.Second || o.maxReadAge > 24*time.Hour:
		return o, fmt.Errorf("--max-read-age %v: want 1s to 24h", o.maxReadAge)
	}
	return o, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	process.TuneGC(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	holder := config.NewHolder(log)
	reg := prometheus.NewRegistry()
	// Made before the store, whose group commits they observe.
	metrics := httpapi.NewMetrics(reg, holder)
	store, err := openStore(ctx, o, metrics, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing the store", "error", err.Error())
		}
	}()

	// Watchers stop with watchCtx, after the server has drained.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	kube, err := watchConfig(watchCtx, o, holder)
	if err != nil {
		return err
	}

	keys, err := auth.LoadDir(o.apiKeysDir)
	if err != nil {
		return err
	}
	authn := auth.NewAuthenticator(keys, auth.NewFailureLimiter(10, time.Second), log)
	go authn.WatchDir(watchCtx, o.apiKeysDir, 2*time.Second)

	// Group commit: the mean batch size is rate(writes) / rate(commits).
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "loyalty_engine_store_commits_total", Help: "Group-commit transactions of the ledger store.",
		}, func() float64 { return float64(store.Stats().Commits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "loyalty_engine_store_committed_writes_total", Help: "Writes committed by the ledger store's group commits.",
		}, func() float64 { return float64(store.Stats().Ops) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "loyalty_engine_store_reads_aborted_total", Help: "Reads of the ledger store aborted for holding their snapshot longer than --max-read-age.",
		}, func() float64 { return float64(store.Stats().ReadsAborted) }),
	)
	api := httpapi.New(httpapi.Options{Ledger: store, Config: holder, Auth: authn, Logger: log, Registry: reg, Metrics: metrics, Outbox: store})

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if o.debugListen != "" {
		if err := process.ServeProfiles(watchCtx, o.debugListen, log); err != nil {
			return err
		}
	}
	log.Info("points engine listening", "addr", ln.Addr().String(), "store", o.store)

	var jobs sync.WaitGroup
	jobs.Go(func() {
		background.Due{Ledger: store, Config: holder, Metrics: metrics, Interval: o.dueInterval, Log: log}.Run(watchCtx)
	})
	jobs.Go(func() {
		background.Memberships{Ledger: store, Interval: o.dueInterval, Log: log}.Run(watchCtx)
	})
	jobs.Go(func() {
		background.Birthdays{Ledger: store, Config: holder, Interval: o.birthdayEvery, Log: log}.Run(watchCtx)
	})
	jobs.Go(func() {
		background.TierPass{Ledger: store, Config: holder, Metrics: metrics, Interval: o.dueInterval, Rate: o.tierPassRate, Log: log}.Run(watchCtx)
	})
	// Delivery outcomes reach the operator through the report Lease.
	delivery := &report.DeliveryHealth{}
	jobs.Go(func() {
		events.Supervisor{Outbox: store, Config: holder, Metrics: events.NewMetrics(reg), Health: delivery, Log: log,
			Earner: service.New(store, holder, nil)}.Run(watchCtx)
	})
	if kube != nil {
		namespace, name, _ := strings.Cut(o.configConfigMap, "/")
		reports := background.Reports{Client: kube, Config: holder, Ledger: store, Namespace: namespace, ConfigMap: name,
			Pod: os.Getenv(contract.EnvPodName), Interval: o.dueInterval, Delivery: delivery, Log: log}
		jobs.Go(func() { reports.Run(watchCtx) })
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	// Shutdown stops accepting and waits for every in-flight request,
	// batches included, to be answered; only then do the jobs and the store stop.
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Error("shutdown did not finish in time", "error", err.Error())
	}
	stopWatch()
	jobs.Wait()
	log.Info("stopped")
	return nil
}

func openStore(ctx context.Context, o options, m *httpapi.Metrics, log *slog.Logger) (*sqlstore.Store, error) {
	if o.store == "postgres" {
		s, err := postgres.Open(ctx, postgres.Options{URL: o.postgresURL, Schema: o.postgresSchema, Shards: o.postgresWriters,
			OnCommit: m.ObserveCommit, MaxReadAge: o.maxReadAge})
		if err != nil {
			return nil, fmt.Errorf("open postgres store: %w", err)
		}
		return s, nil
	}
	s, err := sqlite.Open(ctx, sqlite.Options{Path: o.sqlitePath, WALLimit: int64(o.walLimit), MaxReadAge: o.maxReadAge,
		OnCommit: m.ObserveCommit, OnWALSync: m.ObserveWALSync, OnCheckpoint: m.ObserveCheckpoint, OnWALSize: m.ObserveWALSize,
		OnHealth: background.StoreHealthLogger(log)})
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	return s, nil
}

// watchConfig starts loading the snapshot; it returns the Kubernetes client
// when the snapshot comes from a ConfigMap, nil for a file.
func watchConfig(ctx context.Context, o options, h *config.Holder) (kubernetes.Interface, error) {
	if o.configFile != "" {
		return nil, config.WatchFile(ctx, h, o.configFile, time.Second)
	}
	namespace, name, ok := strings.Cut(o.configConfigMap, "/")
	if !ok || namespace == "" || name == "" {
		return nil, fmt.Errorf("--config-configmap %q: want namespace/name", o.configConfigMap)
	}
	var cfg *rest.Config
	var err error
	if o.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes credentials: %w", err)
	}
	// client-go's default of 5 requests/s would hold a report back behind
	// the one before it when snapshots change in quick succession; the
	// engine only writes when what it reports changes.
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return client, k8swatch.Watch(ctx, client, h, namespace, name, o.configKey)
}
