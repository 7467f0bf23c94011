package httpapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// A read the store marks unavailable (it could not reach the database) is
// a 503 with Retry-After, like a write; other database errors stay 500.
func TestProblemForUnreachableStore(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("read member m0: %w: the database cannot be reached: %w", ledger.ErrStoreUnavailable, refused), http.StatusServiceUnavailable},
		{fmt.Errorf("read history of m0: %w: the database cannot be reached: %w", ledger.ErrStoreUnavailable, &pgconn.PgError{Code: "57P03"}), http.StatusServiceUnavailable},
		{fmt.Errorf("read member m0: %w", &pgconn.PgError{Code: "42P01"}), http.StatusInternalServerError},
		{errors.New("read member m0: decode tags: bad JSON"), http.StatusInternalServerError},
	}
	for _, c := range cases {
		p := problemFor(c.err)
		if p.Status != c.want {
			t.Errorf("%v: status %d, want %d", c.err, p.Status, c.want)
		}
		if (p.retryAfter > 0) != (c.want == http.StatusServiceUnavailable) {
			t.Errorf("%v: Retry-After %v", c.err, p.retryAfter)
		}
		if p.cause == nil {
			t.Errorf("%v: the cause is not kept for the log", c.err)
		}
	}
}
