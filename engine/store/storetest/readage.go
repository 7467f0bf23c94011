package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// ReadAgeFactory returns a fresh, empty store whose reads may hold their
// snapshot for maxAge at most.
type ReadAgeFactory func(tb testing.TB, maxAge time.Duration) ledger.Ledger

// RunReadAge runs the tests of the store's maximum read age.
func RunReadAge(t *testing.T, newStore ReadAgeFactory) {
	t.Run("StalledExportAborted", func(t *testing.T) {
		s := newStore(t, time.Second)
		testStalledExportAborted(t, s, time.Second)
		CheckInvariants(t, s)
	})
}

// stalledClient takes the first chunk of an export and then reads nothing
// until released.
type stalledClient struct {
	first, release chan struct{}
	once           sync.Once
}

func (c *stalledClient) Write(b []byte) (int, error) {
	c.once.Do(func() { close(c.first) })
	<-c.release
	return len(b), nil
}

// StalledExport seeds a full batch of earns for the enrolled members m0 to
// m<members-1>, enough that an export's first chunk leaves before its end,
// and starts an export into a client that takes that chunk and then stops
// reading. It returns once the chunk was taken: release lets the client
// read again, and the export's outcome arrives on done.
func StalledExport(t testing.TB, s ledger.Ledger, members int) (release func(), done <-chan error) {
	t.Helper()
	var batch ledger.EarnBatchRequest
	for i := range ledger.MaxBatchEvents {
		batch.Events = append(batch.Events, ledger.EarnRequest{IdempotencyKey: key("b", i), MemberID: key("m", i%members), EventID: key("b", i), Points: 1})
	}
	if res, err := s.EarnBatch(ctx, batch); err != nil || res.Succeeded != len(batch.Events) {
		t.Fatalf("seed batch: %+v %v", res, err)
	}
	client := &stalledClient{first: make(chan struct{}), release: make(chan struct{})}
	exported := make(chan error, 1)
	go func() {
		_, err := s.Export(ctx, client, ledger.ExportOptions{})
		exported <- err
	}()
	select {
	case <-client.first:
	case err := <-exported:
		t.Fatalf("export ended before its client stalled: %v", err)
	}
	return func() { close(client.release) }, exported
}

// An export whose client stops reading is aborted once it has held its
// snapshot for the maximum read age, with ledger.ErrReadAborted, even
// though it was waiting for its client the whole time; writes go on
// meanwhile, and the store serves reads afterwards.
func testStalledExportAborted(t *testing.T, s ledger.Ledger, maxAge time.Duration) {
	for i := range 8 {
		enroll(t, s, key("m", i))
	}
	release, exported := StalledExport(t, s, 8)
	// Writes are not held up by the stalled export.
	for i := range 5 {
		earn(t, s, ledger.EarnRequest{MemberID: key("m", i), EventID: key("during", i), Points: 2})
	}
	time.Sleep(maxAge + maxAge/2)
	release()
	var err error
	select {
	case err = <-exported:
	case <-time.After(10 * time.Second):
		t.Fatal("the export did not end once its client read again")
	}
	if !errors.Is(err, ledger.ErrReadAborted) {
		t.Fatalf("export of a client stalled past the maximum read age: %v, want ledger.ErrReadAborted", err)
	}
	if ledger.ErrorCode(err) != "read_aborted" {
		t.Errorf("error code %q, want read_aborted", ledger.ErrorCode(err))
	}
	v, err := s.Member(ctx, key("m", 0), time.Time{})
	if err != nil {
		t.Fatalf("read after the abort: %v", err)
	}
	if want := int64(ledger.MaxBatchEvents/8 + 2); v.Available+v.Pending != want {
		t.Errorf("m0 holds %d points, want %d", v.Available+v.Pending, want)
	}
}
