package storetest

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FloorDB is a database for BenchFloor: an empty schema, the dialect's
// parameter syntax and, for SQLite, the checkpoints the engine runs beside
// its writer.
type FloorDB struct {
	DB *sql.DB
	// Param is the placeholder of the i-th argument (1-based).
	Param func(i int) string
	// Checkpoint, if set, runs every second while the benchmark writes.
	Checkpoint func(context.Context)
	// Writers is how many connections write at once (at least 1), each
	// its own share of the members, as the engine's writer shards do.
	Writers int
}

// floorRow is one row an earn inserts: its table and, for each column, the
// earn's value it takes. Rows are numbered by the writer, as the engine
// reserves its entry numbers.
type floorRow struct {
	table   string
	columns []string
	values  []func(e *floorEarn) any
}

// floorEarn is what an earn writes.
type floorEarn struct {
	member, key, result string
	seq, points, at     int64
}

var (
	earnSeq    = func(e *floorEarn) any { return e.seq }
	earnMember = func(e *floorEarn) any { return e.member }
	earnKey    = func(e *floorEarn) any { return e.key }
	earnPoints = func(e *floorEarn) any { return e.points }
	earnAt     = func(e *floorEarn) any { return e.at }
	earnResult = func(e *floorEarn) any { return e.result }
	earnKind   = func(*floorEarn) any { return "earn" }
)

// floorModels are the fewest rows an earn can write, with none of the
// engine around them: no HTTP, no pricing, no Go-side batch logic, and on
// SQLite no wait for a WAL sync. What they cost is a floor under the
// engine's writers, whatever the engine does above them.
var floorModels = []struct {
	name string
	ddl  []string
	rows []floorRow
	// balance adds an earn's points to its member's balance, if set.
	balance bool
}{
	{
		// The ledger model the engine issue asks for, at its smallest: an
		// append-only entry, an earn lot, an idempotency record with its
		// answer, and the member's materialised balance; an index per
		// member for history and for the lots a redemption consumes.
		name: "ledger-model",
		ddl: []string{
			`CREATE TABLE members (id TEXT PRIMARY KEY, available BIGINT NOT NULL DEFAULT 0, lifetime BIGINT NOT NULL DEFAULT 0)`,
			`CREATE TABLE entries (seq INTEGER PRIMARY KEY, member_id TEXT NOT NULL, kind TEXT NOT NULL, points BIGINT NOT NULL, event_id TEXT NOT NULL, at BIGINT NOT NULL)`,
			`CREATE INDEX entries_member ON entries (member_id, seq)`,
			`CREATE TABLE lots (id INTEGER PRIMARY KEY, member_id TEXT NOT NULL, amount BIGINT NOT NULL, remaining BIGINT NOT NULL, expires_at BIGINT NOT NULL)`,
			`CREATE INDEX lots_member_live ON lots (member_id, expires_at) WHERE remaining > 0`,
			`CREATE TABLE idempotency_keys (idem_key TEXT PRIMARY KEY, result TEXT NOT NULL)`,
		},
		rows: []floorRow{
			{"entries", []string{"seq", "member_id", "kind", "points", "event_id", "at"}, []func(*floorEarn) any{earnSeq, earnMember, earnKind, earnPoints, earnKey, earnAt}},
			{"lots", []string{"id", "member_id", "amount", "remaining", "expires_at"}, []func(*floorEarn) any{earnSeq, earnMember, earnPoints, earnPoints, earnAt}},
			{"idempotency_keys", []string{"idem_key", "result"}, []func(*floorEarn) any{earnKey, earnResult}},
		},
		balance: true,
	},
	{
		// One row an earn, found by its key: what a bare log of events
		// costs, below any ledger.
		name: "one-row",
		ddl: []string{
			`CREATE TABLE members (id TEXT PRIMARY KEY)`,
			`CREATE TABLE events (seq INTEGER PRIMARY KEY, member_id TEXT NOT NULL, idem_key TEXT NOT NULL UNIQUE, points BIGINT NOT NULL, at BIGINT NOT NULL, result TEXT NOT NULL)`,
		},
		rows: []floorRow{
			{"events", []string{"seq", "member_id", "idem_key", "points", "at", "result"}, []func(*floorEarn) any{earnSeq, earnMember, earnKey, earnPoints, earnAt, earnResult}},
		},
	},
}

// BenchFloor writes b.N earns of random members (5,000) with random
// idempotency keys, 800 to a commit as the engine's writer groups them under
// batch load, with one statement per row or per 100 rows, and reports
// earns/s and the process's CPU per earn (the database server's, for
// PostgreSQL, is not in it). Balances are added once per member and commit,
// as the engine does. make bench-floor runs it for both stores.
//
// The ledger model is also written as single earns from 64 clients arrive:
// a client waits for its answer, so no more than 64 earns are ever waiting,
// and the writers share them, each committing 64/Writers at a time.
func BenchFloor(b *testing.B, open func(testing.TB) FloorDB) {
	for _, m := range floorModels {
		for _, perStatement := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/rows-per-statement=%d", m.name, perStatement), func(b *testing.B) {
				benchFloor(b, open(b), m.ddl, m.rows, m.balance, perStatement, batchEarnsPerCommit)
			})
		}
	}
	m := floorModels[0]
	for _, perStatement := range []int{1, 100} {
		b.Run(fmt.Sprintf("%s/%d-clients/rows-per-statement=%d", m.name, singleEarnClients, perStatement), func(b *testing.B) {
			fdb := open(b)
			benchFloor(b, fdb, m.ddl, m.rows, m.balance, perStatement, singleEarnClients/max(fdb.Writers, 1))
		})
	}
}

const (
	// batchEarnsPerCommit is how many earns a writer commits at once under
	// batch load.
	batchEarnsPerCommit = 800
	// singleEarnClients is how many single-earn clients the engine's
	// benchmark runs, and so the most earns its writers can have at once.
	singleEarnClients = 64
)

func benchFloor(b *testing.B, fdb FloorDB, ddl []string, rows []floorRow, balance bool, perStatement, perCommit int) {
	const members = 5000
	ctx := b.Context()
	for _, stmt := range ddl {
		if _, err := fdb.DB.ExecContext(ctx, stmt); err != nil {
			b.Fatalf("%s: %v", stmt, err)
		}
	}
	ids := make([]string, members)
	for i := range ids {
		ids[i] = fmt.Sprintf("member-%06d", i)
		if _, err := fdb.DB.ExecContext(ctx, `INSERT INTO members (id) VALUES (`+fdb.Param(1)+`)`, ids[i]); err != nil {
			b.Fatal(err)
		}
	}
	if fdb.Checkpoint != nil {
		stop := runEverySecond(ctx, fdb.Checkpoint)
		defer stop()
	}
	w := floorWriter{db: fdb.DB, rows: rows, perStatement: perStatement, balance: balance, param: fdb.Param, stmts: map[string]*sql.Stmt{}}
	defer w.close()
	// Statements are prepared outside the transactions: the connection is
	// the transaction's while it runs.
	full := min(perStatement, perCommit) // rows of a full statement
	for _, r := range rows {
		if err := w.prepare(ctx, floorInsert(r, full, fdb.Param)); err != nil {
			b.Fatal(err)
		}
	}
	if balance {
		if err := w.prepare(ctx, floorBalance(full, fdb.Param)); err != nil {
			b.Fatal(err)
		}
	}

	const result = `{"memberId":"member-000000","points":25,"available":0,"pending":25,"explanation":{"basePoints":25,"multipliers":[{"source":"tier","factor":"1"}]}}`
	writers := max(fdb.Writers, 1)
	at := time.Now().UnixMicro()
	cpu := processCPU()
	b.ResetTimer()
	errs := make(chan error, writers)
	for wr := range writers {
		go func() {
			// Writer wr writes every writers-th earn, to its own members.
			earns := make([]floorEarn, 0, perCommit)
			key := make([]byte, 16)
			for n := wr; n < b.N; n += writers {
				crand.Read(key)
				earns = append(earns, floorEarn{member: ids[rand.IntN(members/writers)*writers+wr], key: hex.EncodeToString(key),
					result: result, seq: int64(n + 1), points: 1 + rand.Int64N(100), at: at + int64(n)})
				if len(earns) == perCommit || n+writers >= b.N {
					if err := w.commit(ctx, earns); err != nil {
						errs <- err
						return
					}
					earns = earns[:0]
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/earn")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "earns/s")
	if err := checkFloor(ctx, fdb.DB, rows, balance, b.N); err != nil {
		b.Fatal(err)
	}
}

// checkFloor fails a run that did not write what it counted: every row of
// every earn, and balances that add up to the points earned.
func checkFloor(ctx context.Context, db *sql.DB, rows []floorRow, balance bool, earns int) error {
	var points int64
	for _, r := range rows {
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+r.table).Scan(&n); err != nil {
			return fmt.Errorf("count %s: %w", r.table, err)
		}
		if n != int64(earns) {
			return fmt.Errorf("%s has %d rows after %d earns", r.table, n, earns)
		}
	}
	if !balance {
		return nil
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(points), 0) FROM entries`).Scan(&points); err != nil {
		return fmt.Errorf("sum entries: %w", err)
	}
	var available, lifetime int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(available), 0), COALESCE(SUM(lifetime), 0) FROM members`).Scan(&available, &lifetime); err != nil {
		return fmt.Errorf("sum balances: %w", err)
	}
	if available != points || lifetime != points {
		return fmt.Errorf("balances add up to %d available and %d lifetime, entries to %d", available, lifetime, points)
	}
	return nil
}

type floorWriter struct {
	db           *sql.DB
	rows         []floorRow
	perStatement int
	balance      bool
	param        func(int) string
	stmts        map[string]*sql.Stmt // read-only once the writers start
}

func (w *floorWriter) prepare(ctx context.Context, q string) error {
	st, err := w.db.PrepareContext(ctx, q)
	if err != nil {
		return fmt.Errorf("prepare %.60s: %w", q, err)
	}
	w.stmts[q] = st
	return nil
}

func (w *floorWriter) close() {
	for _, st := range w.stmts {
		_ = st.Close() // the measurement is over; its database closes next
	}
}

// exec runs q in tx, prepared if it was.
func (w *floorWriter) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) error {
	var err error
	if st := w.stmts[q]; st != nil {
		_, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	} else {
		_, err = tx.ExecContext(ctx, q, args...)
	}
	return err
}

// commit writes the earns in one transaction.
func (w *floorWriter) commit(ctx context.Context, earns []floorEarn) error {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // a no-op once committed
	for _, r := range w.rows {
		for start := 0; start < len(earns); start += w.perStatement {
			chunk := earns[start:min(start+w.perStatement, len(earns))]
			args := make([]any, 0, len(chunk)*len(r.columns))
			for i := range chunk {
				for _, v := range r.values {
					args = append(args, v(&chunk[i]))
				}
			}
			if err := w.exec(ctx, tx, floorInsert(r, len(chunk), w.param), args...); err != nil {
				return fmt.Errorf("insert into %s: %w", r.table, err)
			}
		}
	}
	if w.balance {
		// One addition per member, in id order as the engine locks them.
		sum := map[string]int64{}
		for _, e := range earns {
			sum[e.member] += e.points
		}
		ids := slices.Sorted(maps.Keys(sum))
		for start := 0; start < len(ids); start += w.perStatement {
			chunk := ids[start:min(start+w.perStatement, len(ids))]
			args := make([]any, 0, 2*len(chunk))
			for _, id := range chunk {
				args = append(args, id, sum[id])
			}
			if err := w.exec(ctx, tx, floorBalance(len(chunk), w.param), args...); err != nil {
				return fmt.Errorf("update balances: %w", err)
			}
		}
	}
	return tx.Commit()
}

// floorBalance adds points to n members' balances: arguments are pairs of
// member id and points.
func floorBalance(n int, param func(int) string) string {
	var b strings.Builder
	b.WriteString("UPDATE members SET available = available + d.p, lifetime = lifetime + d.p FROM (")
	for i := range n {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("SELECT CAST(" + param(2*i+1) + " AS TEXT) AS id, CAST(" + param(2*i+2) + " AS BIGINT) AS p")
	}
	b.WriteString(") AS d WHERE members.id = d.id")
	return b.String()
}

// floorInsert is an INSERT of n rows into r's table.
func floorInsert(r floorRow, n int, param func(int) string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + r.table + " (" + strings.Join(r.columns, ", ") + ") VALUES ")
	p := 0
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range r.columns {
			if c > 0 {
				b.WriteString(", ")
			}
			p++
			b.WriteString(param(p))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// NumberedParam is PostgreSQL's placeholder, $i.
func NumberedParam(i int) string { return "$" + strconv.Itoa(i) }

// runEverySecond runs f every second until stop is called.
func runEverySecond(ctx context.Context, f func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f(ctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// processCPU is the CPU time (user and system) the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
