package report

import (
	"context"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// Follow reports every snapshot the holder applies until ctx ends, then
// withdraws the report. A failed write is retried with backoff, since the
// operator waits on it; it never blocks serving. The report is owned by
// whatever owns the ConfigMap it reads (the program), so it is
// garbage-collected with the program.
func Follow(ctx context.Context, h *config.Holder, r *Reporter, configMap string, log *slog.Logger) {
	if cm, err := r.Client.CoreV1().ConfigMaps(r.Namespace).Get(ctx, configMap, metav1.GetOptions{}); err == nil {
		r.Owners = cm.OwnerReferences
	}
	reported := ""
	backoff := 100 * time.Millisecond
	for {
		changed := h.Changed()
		if hash := h.Status().Hash; hash != "" && hash != reported {
			if err := r.Applied(ctx, hash); err != nil {
				log.Warn("reporting the applied snapshot failed; retrying", "error", err.Error(), "backoff", backoff.String())
				select {
				case <-ctx.Done():
				case <-time.After(backoff):
					backoff = min(2*backoff, 10*time.Second)
					continue
				}
			} else {
				reported, backoff = hash, 100*time.Millisecond
				log.Info("reported the applied snapshot", "hash", hash, "lease", contract.ReportLeaseName(r.Program, r.Identity))
			}
		}
		select {
		case <-ctx.Done():
			withdraw, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := r.Withdraw(withdraw); err != nil {
				log.Warn("withdrawing the snapshot report failed", "error", err.Error())
			}
			cancel()
			return
		case <-changed:
		}
	}
}
