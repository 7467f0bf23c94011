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
	Log     *slog.Logger
	// PruneEvery is how often delivered events past their retention are
	// deleted; an hour when zero.
	PruneEvery time.Duration
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
	r.wg.Go(func() { s.prune(ctx, names, p.RetentionOrDefault()) })
	return r
}

func (s Supervisor) deliver(ctx context.Context, r *running, p *config.EventsPolicy, sink Sink) {
	d := &Deliverer{Outbox: s.Outbox, Sink: sink, MaxAttempts: p.Attempts(), Metrics: s.Metrics, Log: s.Log}
	r.wg.Go(func() { d.Run(ctx) })
}

// runNATS connects (nats.go reconnects by itself afterwards) and delivers.
func (s Supervisor) runNATS(ctx context.Context, r *running, p *config.EventsPolicy, n config.NATSSink, program, source string) {
	opts := []nats.Option{nats.Name("loyalty points engine"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true)}
	if n.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(n.CredentialsFile))
	}
	nc, err := nats.Connect(n.URL, opts...)
	if err != nil {
		s.Log.Error("connecting to NATS", "sink", n.Name, "error", err.Error())
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		s.Log.Error("JetStream", "sink", n.Name, "error", fmt.Sprint(err))
		return
	}
	d := &Deliverer{Outbox: s.Outbox, MaxAttempts: p.Attempts(), Metrics: s.Metrics, Log: s.Log,
		Sink: &NATS{SinkName: n.Name, Source: source, Prefix: n.Prefix(program), JS: js, Stream: n.Stream, Create: n.CreateStream}}
	d.Run(ctx)
}

// prune deletes what every sink delivered once it is past the retention.
func (s Supervisor) prune(ctx context.Context, sinks []string, retention time.Duration) {
	t := time.NewTicker(cmp.Or(s.PruneEvery, time.Hour))
	defer t.Stop()
	for {
		if n, err := s.Outbox.PruneOutbox(ctx, sinks, time.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			s.Log.Warn("pruning the outbox", "error", err.Error())
		} else if n > 0 {
			s.Log.Info("outbox pruned", "events", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
