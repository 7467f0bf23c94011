package sqlstore

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/internal/strictjson"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// importParams bounds the parameters of one multi-row INSERT, well under
// SQLite's 32766 and PostgreSQL's 65535.
const importParams = 4096

// importTable is where the records of a type go.
type importTable struct {
	table string
	cols  []string
	// identity: the first column is the table's identity (lots.id,
	// entries.seq), written with the exported numbers so that references
	// to them (history cursors, stored results) stay valid.
	identity bool
	// parse decodes and validates a line into the columns' values; a
	// FieldError names the field.
	parse func(line []byte) ([]any, error)
}

var importTables = map[string]importTable{
	ledger.RecordMember: {table: "members", cols: []string{"id", "tags", "enrolled_at", "available", "pending", "lifetime",
		"last_activity_at", "tier", "tier_since", "referral_code", "attributes", "consents", "birth_month", "birth_day", "birth_year",
		"erased_at"}, parse: parseMember},
	ledger.RecordMemberTier: {table: "member_tiers", cols: []string{"member_id", "tier", "last_qualified_at"}, parse: parseMemberTier},
	ledger.RecordReferral: {table: "referrals", cols: []string{"referee_id", "referrer_id", "created_at", "converted_at",
		"qualifying_event_id", "referrer_reward", "referee_reward", "clawed_back"}, parse: parseReferral},
	ledger.RecordEvent: {table: "events", cols: []string{"member_id", "event_id", "points", "reversed", "purchase_amount", "refunded", "currency",
		"occurred_at", "recorded_at", "action", "clawed", "bonuses"}, parse: parseEvent},
	ledger.RecordLot: {table: "lots", identity: true, cols: []string{"id", "member_id", "event_id", "amount", "remaining", "state",
		"available_at", "expires_at"}, parse: parseLot},
	ledger.RecordEntry: {table: "entries", identity: true, cols: []string{"seq", "member_id", "kind", "available", "pending", "lifetime",
		"event_id", "reference", "reason", "shortfall", "at"}, parse: parseEntry},
	ledger.RecordRedemption: {table: "redemptions", cols: []string{"code", "member_id", "reward_id", "points", "status", "redeemed_at",
		"cancelled_at", "points_expire_at"}, parse: parseRedemption},
	ledger.RecordRewardStock:    {table: "reward_stock", cols: []string{"reward_id", "redeemed"}, parse: parseRewardStock},
	ledger.RecordCampaignSpend:  {table: "campaign_spend", cols: []string{"campaign", "granted"}, parse: parseCampaignSpend},
	ledger.RecordMemberCampaign: {table: "member_campaigns", cols: []string{"member_id", "campaign", "granted"}, parse: parseMemberCampaign},
	ledger.RecordActivity: {table: "member_activity_daily", cols: []string{"member_id", "day", "currency", "points", "spend"},
		parse: parseActivity},
	ledger.RecordIdempotencyKey: {table: "idempotency_keys", cols: []string{"idem_key", "op", "request_hash", "result", "created_at"},
		parse: parseIdempotencyKey},
}

// Import implements ledger.Portable, in one write transaction: the
// emptiness check, every insert, the identity sequences, the invariant
// check and the import's record commit together or not at all.
func (s *Store) Import(ctx context.Context, r io.Reader) (ledger.ImportResult, error) {
	tx, err := s.cfg.WriteDB.BeginTx(ctx, nil)
	if err != nil {
		return ledger.ImportResult{}, fmt.Errorf("import: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	imp := &importer{tx: tx, d: s.cfg.Dialect, in: bufio.NewReaderSize(r, ledger.MaxExportLine), sum: sha256.New(),
		counts: make(map[string]int64, len(ledger.RecordTypes))}
	res, err := imp.run(ctx, s.now())
	if err != nil {
		return ledger.ImportResult{}, fmt.Errorf("import: %w", err)
	}
	if res.Replayed {
		if err := s.durable.waitDurable(ctx); err != nil {
			return ledger.ImportResult{}, fmt.Errorf("import: %w", err)
		}
		return res, nil
	}
	if s.durable == nil {
		if err := tx.Commit(); err != nil {
			return ledger.ImportResult{}, fmt.Errorf("import: commit: %w", err)
		}
		return res, nil
	}
	if err := s.durable.err(); err != nil {
		return ledger.ImportResult{}, fmt.Errorf("import: %w", err)
	}
	ticket := s.durable.ticket()
	commitErr := tx.Commit()
	synced := make(chan error, 1)
	s.durable.after(ticket, func(err error) { synced <- err })
	if err := cmp.Or(commitErr, <-synced); err != nil {
		return ledger.ImportResult{}, fmt.Errorf("import: commit: %w", err)
	}
	return res, nil
}

// importer reads a stream line by line, validates each and buffers the rows
// of the current type into multi-row inserts.
type importer struct {
	tx     *sql.Tx
	d      *Dialect
	in     *bufio.Reader
	sum    hash.Hash
	line   int
	counts map[string]int64
	// dryRun validates without writing: the stream is checked against a
	// recorded import.
	dryRun bool

	typ       string // the type being buffered, or "" before the first record
	rows      []any  // buffered column values, row after row
	firstLine int    // line of the first buffered row
}

func (imp *importer) run(ctx context.Context, now time.Time) (ledger.ImportResult, error) {
	if imp.d.ForUpdate != "" {
		// Several processes may write: keep their writes out until the
		// import commits, so that it still loads into an empty store.
		if _, err := imp.tx.ExecContext(ctx, `LOCK TABLE members, idempotency_keys, imports IN EXCLUSIVE MODE`); err != nil {
			return ledger.ImportResult{}, fmt.Errorf("lock tables: %w", err)
		}
	}
	h, err := imp.header()
	if err != nil {
		return ledger.ImportResult{}, err
	}
	prior, err := imp.state(ctx, h.ExportID)
	if err != nil {
		return ledger.ImportResult{}, err
	}
	imp.dryRun = prior != nil
	trailer, err := imp.records(ctx)
	if err != nil {
		return ledger.ImportResult{}, err
	}
	if prior != nil {
		if prior.ImportID != trailer.SHA256 {
			return ledger.ImportResult{}, fmt.Errorf("%w: import %s of export %s is loaded, and this stream (checksum %s) differs from it",
				ledger.ErrStoreNotEmpty, prior.ImportID, h.ExportID, trailer.SHA256)
		}
		prior.Replayed = true
		return *prior, nil
	}
	if err := imp.finish(ctx); err != nil {
		return ledger.ImportResult{}, err
	}
	res := ledger.ImportResult{ImportID: trailer.SHA256, ExportID: h.ExportID, ProgramID: h.ProgramID, Dialect: h.Dialect,
		ExportedAt: h.ExportedAt.UTC(), ImportedAt: now, Counts: imp.counts}
	out, err := json.Marshal(res)
	if err != nil {
		return ledger.ImportResult{}, fmt.Errorf("encode result: %w", err)
	}
	if _, err := imp.tx.ExecContext(ctx, imp.d.rebind(`INSERT INTO imports (id, export_id, result, imported_at) VALUES (?, ?, ?, ?)`),
		res.ImportID, res.ExportID, string(out), now.UnixMicro()); err != nil {
		return ledger.ImportResult{}, fmt.Errorf("record import: %w", err)
	}
	return res, nil
}

// state returns the recorded import of the export, if the store holds
// exactly that; nil for an empty store; ErrStoreNotEmpty otherwise.
func (imp *importer) state(ctx context.Context, exportID string) (*ledger.ImportResult, error) {
	var members, keys, other int
	err := imp.tx.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM (SELECT 1 FROM members LIMIT 1) m),
			(SELECT COUNT(*) FROM (SELECT 1 FROM idempotency_keys LIMIT 1) k),
			(SELECT COUNT(*) FROM (SELECT 1 FROM campaign_spend UNION ALL SELECT 1 FROM reward_stock LIMIT 1) o)`).Scan(&members, &keys, &other)
	if err != nil {
		return nil, fmt.Errorf("check the store is empty: %w", err)
	}
	var prior *ledger.ImportResult
	rows, err := imp.tx.QueryContext(ctx, `SELECT export_id, result FROM imports`)
	if err != nil {
		return nil, fmt.Errorf("read imports: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, result string
		if err := rows.Scan(&id, &result); err != nil {
			return nil, fmt.Errorf("read imports: %w", err)
		}
		if id != exportID {
			return nil, fmt.Errorf("%w: it holds the import of export %s", ledger.ErrStoreNotEmpty, id)
		}
		prior = new(ledger.ImportResult)
		if err := json.Unmarshal([]byte(result), prior); err != nil {
			return nil, fmt.Errorf("read imports: decode result: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read imports: %w", err)
	}
	if prior == nil && members+keys+other > 0 {
		return nil, fmt.Errorf("%w: it holds members or writes already; import only into a new store", ledger.ErrStoreNotEmpty)
	}
	return prior, nil
}

// next returns the next line without its newline, hashing it unless it is
// the trailer; io.EOF at the end of the stream.
func (imp *importer) next() ([]byte, bool, error) {
	b, err := imp.in.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, false, lineErr(imp.line+1, "(line)", fmt.Sprintf("longer than %d bytes", ledger.MaxExportLine))
	case errors.Is(err, io.EOF) && len(b) == 0:
		return nil, false, io.EOF
	case err != nil && !errors.Is(err, io.EOF):
		return nil, false, fmt.Errorf("read line %d: %w", imp.line+1, err)
	}
	imp.line++
	complete := err == nil
	return bytes.TrimSuffix(b, []byte("\n")), complete, nil
}

func (imp *importer) header() (ledger.ExportHeader, error) {
	var h ledger.ExportHeader
	b, _, err := imp.next()
	if errors.Is(err, io.EOF) {
		return h, &ledger.FieldError{Field: "(body)", Reason: "empty: send an export stream, a header line first"}
	}
	if err != nil {
		return h, err
	}
	imp.sum.Write(b)
	imp.sum.Write([]byte{'\n'})
	if typ, err := recordType(b); err != nil || typ != ledger.RecordHeader {
		if err != nil {
			return h, atLine(1, err)
		}
		return h, lineErr(1, "type", fmt.Sprintf("%q: the stream must start with a header", typ))
	}
	if err := decodeStrict(b, &h); err != nil {
		return h, atLine(1, err)
	}
	switch {
	case h.Format != ledger.ExportFormat:
		return h, lineErr(1, "format", fmt.Sprintf("%q: want %q", h.Format, ledger.ExportFormat))
	case h.Version != ledger.ExportVersion:
		return h, lineErr(1, "version", fmt.Sprintf("%d: this engine reads version %d", h.Version, ledger.ExportVersion))
	case h.ExportID == "":
		return h, lineErr(1, "exportId", "required")
	case h.ExportedAt.IsZero():
		return h, lineErr(1, "exportedAt", "required")
	}
	return h, nil
}

// records reads every data line and the trailer, and checks the trailer.
func (imp *importer) records(ctx context.Context) (ledger.ExportTrailer, error) {
	order := -1
	for {
		b, complete, err := imp.next()
		if errors.Is(err, io.EOF) {
			return ledger.ExportTrailer{}, &ledger.FieldError{Field: "trailer", Reason: fmt.Sprintf(
				"missing: the stream ends after line %d without its trailer, so it is truncated", imp.line)}
		}
		if err != nil {
			return ledger.ExportTrailer{}, err
		}
		typ, err := recordType(b)
		if err != nil {
			if !complete {
				return ledger.ExportTrailer{}, truncated(imp.line)
			}
			return ledger.ExportTrailer{}, atLine(imp.line, err)
		}
		if typ == ledger.RecordTrailer {
			return imp.trailer(ctx, b)
		}
		if !complete {
			return ledger.ExportTrailer{}, truncated(imp.line)
		}
		imp.sum.Write(b)
		imp.sum.Write([]byte{'\n'})
		i := slices.Index(ledger.RecordTypes, typ)
		switch {
		case typ == "":
			return ledger.ExportTrailer{}, lineErr(imp.line, "type", "required")
		case typ == ledger.RecordHeader:
			return ledger.ExportTrailer{}, lineErr(imp.line, "type", "a second header")
		case i < 0:
			return ledger.ExportTrailer{}, lineErr(imp.line, "type", fmt.Sprintf("unknown record type %q", typ))
		case i < order:
			return ledger.ExportTrailer{}, lineErr(imp.line, "type", fmt.Sprintf("%s after %s records: the types come in the order %s",
				typ, ledger.RecordTypes[order], strings.Join(ledger.RecordTypes, ", ")))
		}
		order = i
		vals, err := importTables[typ].parse(b)
		if err != nil {
			return ledger.ExportTrailer{}, atLine(imp.line, err)
		}
		imp.counts[typ]++
		if err := imp.add(ctx, typ, vals); err != nil {
			return ledger.ExportTrailer{}, err
		}
	}
}

// recordType reads a line's type, before the line is decoded as that type.
func recordType(b []byte) (string, error) {
	var t struct {
		Type string `json:"type"`
	}
	if err := strictjson.UnmarshalSome(b, &t); err != nil {
		return "", jsonIssue(err)
	}
	return t.Type, nil
}

func truncated(line int) error {
	return lineErr(line, "(line)", "incomplete: the stream ends inside it, so it is truncated")
}

// trailer checks the trailer line, the last of the stream.
func (imp *importer) trailer(ctx context.Context, b []byte) (ledger.ExportTrailer, error) {
	at := imp.line
	var t ledger.ExportTrailer
	if err := decodeStrict(b, &t); err != nil {
		return t, atLine(at, err)
	}
	if rest, _, err := imp.next(); !errors.Is(err, io.EOF) {
		if err == nil && len(bytes.TrimSpace(rest)) == 0 {
			err = lineErr(imp.line, "(line)", "blank line after the trailer")
		} else if err == nil {
			err = lineErr(imp.line, "(line)", "data after the trailer, which must be the last line")
		}
		return t, err
	}
	for typ, n := range t.Counts {
		if !slices.Contains(ledger.RecordTypes, typ) {
			return t, lineErr(at, "counts."+typ, "not a record type")
		}
		if n != imp.counts[typ] {
			return t, lineErr(at, "counts."+typ, fmt.Sprintf("%d, but the stream holds %d such records: it is truncated or altered", n, imp.counts[typ]))
		}
	}
	for _, typ := range ledger.RecordTypes {
		if _, ok := t.Counts[typ]; !ok && imp.counts[typ] > 0 {
			return t, lineErr(at, "counts."+typ, fmt.Sprintf("missing, but the stream holds %d such records", imp.counts[typ]))
		}
	}
	if sum := hex.EncodeToString(imp.sum.Sum(nil)); t.SHA256 != sum {
		return t, lineErr(at, "sha256", fmt.Sprintf("%q, but the lines before the trailer hash to %q: the stream was altered", t.SHA256, sum))
	}
	return t, imp.flush(ctx)
}

// add buffers a row of typ, writing the buffer first when the type changes
// or the statement would take too many parameters.
func (imp *importer) add(ctx context.Context, typ string, vals []any) error {
	if imp.dryRun {
		return nil
	}
	if typ != imp.typ || len(imp.rows)+len(vals) > importParams {
		if err := imp.flush(ctx); err != nil {
			return err
		}
		imp.typ, imp.firstLine = typ, imp.line
	}
	imp.rows = append(imp.rows, vals...)
	return nil
}

// flush writes the buffered rows with one INSERT.
func (imp *importer) flush(ctx context.Context) error {
	if len(imp.rows) == 0 || imp.dryRun {
		return nil
	}
	tab := importTables[imp.typ]
	n := len(imp.rows) / len(tab.cols)
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(tab.cols)), ", ") + ")"
	var q strings.Builder
	q.WriteString("INSERT INTO " + tab.table + " (" + strings.Join(tab.cols, ", ") + ")")
	if tab.identity {
		q.WriteString(imp.d.sql().identityOverride())
	}
	q.WriteString(" VALUES ")
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(row)
	}
	if _, err := imp.tx.ExecContext(ctx, imp.d.rebind(q.String()), imp.rows...); err != nil {
		return &ledger.FieldError{Field: fmt.Sprintf("lines %d-%d", imp.firstLine, imp.line-1),
			Reason: fmt.Sprintf("%s records refused by the store: %v", imp.typ, err)}
	}
	imp.rows = imp.rows[:0]
	return nil
}

// finish moves the identity sequences past the imported numbers and checks
// the invariants on what the transaction wrote.
func (imp *importer) finish(ctx context.Context) error {
	if err := imp.d.sql().afterImport(ctx, imp.tx); err != nil {
		return err
	}
	if err := restoreBirthdayGrants(ctx, imp.tx); err != nil {
		return err
	}
	problems, err := invariantProblems(ctx, imp.tx.QueryContext)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return &ledger.FieldError{Field: "(body)", Reason: "the records break the ledger's invariants, nothing was imported:\n" +
			strings.Join(problems, "\n")}
	}
	return nil
}

// restoreBirthdayGrants records the birthday grants of the imported
// entries: the export carries a grant as its earn entry only (reason
// "birthday", reference "birthday-" and the year, no event), and a year
// granted before the move must not be granted again after it.
func restoreBirthdayGrants(ctx context.Context, tx *sql.Tx) error {
	const year = `CAST(substr(reference, 10) AS INTEGER)`
	if _, err := tx.ExecContext(ctx, `INSERT INTO birthday_grants (member_id, year, entry_seq, granted_at)
		SELECT member_id, `+year+`, MIN(seq), MIN(at) FROM entries
		WHERE kind = 'earn' AND reason = 'birthday' AND event_id = '' AND reference LIKE 'birthday-%'
		GROUP BY member_id, `+year); err != nil {
		return fmt.Errorf("restore birthday grants: %w", err)
	}
	return nil
}

// Errors of a line.

// Column values of optional times and strings.

// The parsers of each record type.
