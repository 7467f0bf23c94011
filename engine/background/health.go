package background

import (
	"log/slog"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// StoreHealthLogger returns the store's OnHealth hook: it logs a change of
// the store's write health, an error while writes fail or are refused, a
// warning while it is degraded.
func StoreHealthLogger(log *slog.Logger) func(ledger.StoreHealth) {
	return func(h ledger.StoreHealth) {
		switch {
		case h.State == ledger.StoreOK:
			log.Info("ledger store healthy again: writes are taken", "state", h.State)
		case !h.Writable:
			log.Error("ledger store cannot take writes", "state", h.State, "reason", h.Reason)
		default:
			log.Warn("ledger store degraded", "state", h.State, "reason", h.Reason)
		}
	}
}
