package background

import (
	"slices"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

func TestStoreHealthLogger(t *testing.T) {
	log, logs := newLog()
	onHealth := StoreHealthLogger(log)
	onHealth(ledger.StoreHealth{State: ledger.StoreCheckpointStalled, Writable: true, Reason: "an export holds the log"})
	onHealth(ledger.StoreHealth{State: ledger.StoreDiskFull, Reason: "no space left on device"})
	onHealth(ledger.StoreHealth{State: ledger.StoreOK, Writable: true})
	want := []string{"WARN ledger store degraded", "ERROR ledger store cannot take writes", "INFO ledger store healthy again: writes are taken"}
	if got := logs.messages(t); !slices.Equal(got, want) {
		t.Errorf("log %v, want %v", got, want)
	}
	if r := logs.records(t)[1]; r["state"] != ledger.StoreDiskFull || r["reason"] != "no space left on device" {
		t.Errorf("record %v", r)
	}
}
