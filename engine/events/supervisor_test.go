package events

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

const supervisedSnapshot = `{"version": "loyaltyops.io/snapshot/v1",
  "program": {"name": "gold", "namespace": "shop", "displayName": "Gold", "currency": "EUR"},
  "points": {"earnRate": "1", "pendingPeriod": "0s", "expiry": {"afterEarn": "365d"}, "lateEventGracePeriod": "72h"}%s}`

// The supervisor delivers to the sinks the snapshot declares, with the
// secret read from its file, and follows the snapshot when it changes.
func TestSupervisorFollowsTheSnapshot(t *testing.T) {
	s := openStore(t)
	rcv := newReceiver("from-a-file")
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	holder := config.NewHolder(nil)
	withHook := fmt.Sprintf(supervisedSnapshot, fmt.Sprintf(`, "events": {"webhooks": [{"name": "hook", "url": %q, "secretFile": %q}]}`, srv.URL, secret))
	if err := holder.Apply("test", []byte(withHook)); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { Supervisor{Outbox: s, Config: holder, Metrics: m}.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	writeSome(t, s, 2, 4, "o")
	waitFor(t, "the first events", func() bool { return rcv.accepted() == 6 })
	// Without the sink, new events stay in the outbox.
	if err := holder.Apply("test", []byte(fmt.Sprintf(supervisedSnapshot, ""))); err != nil {
		t.Fatal(err)
	}
	writeSome(t, s, 2, 2, "p")
	time.Sleep(300 * time.Millisecond) // the deliverer polls every 200ms
	if n := rcv.accepted(); n != 6 || testutil.ToFloat64(m.Delivered.WithLabelValues("hook")) != 6 {
		t.Fatalf("%d delivered to a sink the snapshot no longer has", n)
	}
	if err := holder.Apply("test", []byte(withHook)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the events written meanwhile", func() bool { return rcv.accepted() == 8 })
	if c, err := s.SinkCursor(ctx, "hook"); err != nil || c != 8 {
		t.Fatalf("cursor %d, %v", c, err)
	}
}
