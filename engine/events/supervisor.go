package events

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Snapshots is the configuration in effect and its changes
// (*config.Holder).
type Snapshots interface {
	Current() *config.Snapshot
	Changed() <-chan struct{}
}

// Supervisor runs a deliverer per sink of the snapshot's events section,
// and the pruning of the outbox; it restarts them when that section (or
// the program) changes.
type Supervisor struct {
	Outbox  ledger.Outbox
	Config  Snapshots
	Metrics *Metrics
	// Health hears every sink's deliveries (may be nil).
	Health Health
	Log    *slog.Logger
	// Earner applies ingested purchases (*service.Service).
	Earner Earner
	// PruneEvery is how often delivered events past their retention are
	// deleted; an hour when zero.
	PruneEvery time.Duration
}

func (s Supervisor) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// running is what a configuration started.
type running struct {
	program config.Program
	policy  *config.EventsPolicy
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Run supervises until ctx ends.
func (s Supervisor) Run(ctx context.Context) {
	var cur *running
	defer func() { cur.stop() }()
	for {
		changed := s.Config.Changed()
		if snap := s.Config.Current(); snap != nil && (cur == nil || !sameEvents(cur, snap)) {
			cur.stop()
			cur = s.start(ctx, snap)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// sameEvents compares the sections as the snapshot encodes them.
func sameEvents(r *running, snap *config.Snapshot) bool {
	a, errA := json.Marshal(r.policy)
	b, errB := json.Marshal(snap.Events)
	return r.program == snap.Program && errA == nil && errB == nil && bytes.Equal(a, b)
}

func (r *running) stop() {
	if r != nil {
		r.cancel()
		r.wg.Wait()
	}
}

func (s Supervisor) start(parent context.Context, snap *config.Snapshot) *running {
	ctx, cancel := context.WithCancel(parent)
	r := &running{program: snap.Program, policy: snap.Events, cancel: cancel}
	p := snap.Events
	if p == nil {
		return r
	}
	source := Source(snap.Program.Namespace, snap.Program.Name)
	var names []string
	for _, w := range p.Webhooks {
		names = append(names, w.Name)
		sink := &Webhook{SinkName: w.Name, URL: w.URL, Source: source, Secret: SecretFromFile(w.SecretFile),
			Client: &http.Client{Timeout: w.TimeoutOrDefault()}}
		s.deliver(ctx, r, p, sink)
	}
	for _, n := range p.NATS {
		names = append(names, n.Name)
		r.wg.Go(func() { s.runNATS(ctx, r, p, n, snap.Program.Name, source) })
	}
	for _, n := range p.Ingest {
		r.wg.Go(func() { s.runIngest(ctx, n) })
	}
	r.wg.Go(func() { s.prune(ctx, names, p.RetentionOrDefault()) })
	return r
}

func (s Supervisor) deliver(ctx context.Context, r *running, p *config.EventsPolicy, sink Sink) {
	d := &Deliverer{Outbox: s.Outbox, Sink: sink, MaxAttempts: p.Attempts(), Metrics: s.Metrics, Health: s.Health, Log: s.log()}
	r.wg.Go(func() { d.Run(ctx) })
}

// connect connects to NATS; nats.go reconnects by itself afterwards.
func connect(url, creds string) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{nats.Name("loyalty points engine"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true)}
	if creds != "" {
		opts = append(opts, nats.UserCredentials(creds))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("JetStream: %w", err)
	}
	return nc, js, nil
}

// runIngest consumes an ingestion stream with a durable consumer, retrying
// the setup until it succeeds or ctx ends.
func (s Supervisor) runIngest(ctx context.Context, n config.NATSIngest) {
	nc, js, err := connect(n.URL, n.CredentialsFile)
	if err != nil {
		s.log().Error("ingestion", "source", n.Name, "error", err.Error())
		return
	}
	defer nc.Close()
	for ctx.Err() == nil {
		cons, err := js.CreateOrUpdateConsumer(ctx, n.Stream, jetstream.ConsumerConfig{Durable: n.Name,
			AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: n.FilterSubject})
		if err == nil {
			in := &Ingest{Consumer: cons, JS: js, ParkSubject: n.ParkSubject, Earner: s.Earner, Log: s.log()}
			err = in.Run(ctx)
		}
		if err != nil && ctx.Err() == nil {
			s.log().Warn("ingestion", "source", n.Name, "error", err.Error())
		}
		_ = RealClock{}.Sleep(ctx, 5*time.Second)
	}
}

// runNATS connects (nats.go reconnects by itself afterwards) and delivers.
func (s Supervisor) runNATS(ctx context.Context, r *running, p *config.EventsPolicy, n config.NATSSink, program, source string) {
	nc, js, err := connect(n.URL, n.CredentialsFile)
	if err != nil {
		s.log().Error("event sink", "sink", n.Name, "error", err.Error())
		return
	}
	defer nc.Close()
	d := &Deliverer{Outbox: s.Outbox, MaxAttempts: p.Attempts(), Metrics: s.Metrics, Health: s.Health, Log: s.log(),
		Sink: &NATS{SinkName: n.Name, Source: source, Prefix: n.Prefix(program), JS: js, Stream: n.Stream, Create: n.CreateStream}}
	d.Run(ctx)
}

// prune deletes what every sink delivered once it is past the retention.
func (s Supervisor) prune(ctx context.Context, sinks []string, retention time.Duration) {
	t := time.NewTicker(cmp.Or(s.PruneEvery, time.Hour))
	defer t.Stop()
	for {
		if n, err := s.Outbox.PruneOutbox(ctx, sinks, time.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			s.log().Warn("pruning the outbox", "error", err.Error())
		} else if n > 0 {
			s.log().Info("outbox pruned", "events", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
