package ledger

import (
	"context"
	"errors"
	"io"
	"time"
)

// The export stream: NDJSON, one JSON object per line, each with a "type".
// A header comes first, then the records of each type in RecordTypes order
// (every record of a type before any of the next), then a trailer with the
// count of each type and the SHA-256 of every byte before the trailer line,
// so that a truncated or altered stream is refused. docs/data-portability.md
// describes every field.
const (
	ExportFormat  = "loyaltyops.io/ledger-export"
	ExportVersion = 1
	// MaxExportLine bounds one line of a stream; the longest records are
	// idempotency keys with their stored results.
	MaxExportLine = 1 << 20
)

// Record types of the stream.
const (
	RecordHeader         = "header"
	RecordMember         = "member"
	RecordMemberTier     = "memberTier"
	RecordReferral       = "referral"
	RecordEvent          = "event"
	RecordLot            = "lot"
	RecordEntry          = "entry"
	RecordRedemption     = "redemption"
	RecordRewardStock    = "rewardStock"
	RecordCampaignSpend  = "campaignSpend"
	RecordMemberCampaign = "memberCampaign"
	RecordActivity       = "activity"
	RecordIdempotencyKey = "idempotencyKey"
	RecordTrailer        = "trailer"
)

// RecordTypes are the data record types in stream order: members before
// everything that refers to them.
var RecordTypes = []string{
	RecordMember, RecordMemberTier, RecordReferral, RecordEvent, RecordLot, RecordEntry, RecordRedemption,
	RecordRewardStock, RecordCampaignSpend, RecordMemberCampaign, RecordActivity, RecordIdempotencyKey,
}

// ErrStoreNotEmpty: an import was sent to a store that holds data (other
// than the same import, which replays).
var ErrStoreNotEmpty = errors.New("store not empty")

// Portable moves a store's whole state to another store, of the same
// database or another.
type Portable interface {
	// Export writes the store's state to w as the export stream, read on
	// one consistent snapshot row by row (never all in memory). Writes
	// committed meanwhile are not in it.
	Export(ctx context.Context, w io.Writer, opts ExportOptions) (ExportSummary, error)
	// Import loads an export stream into an empty store, all or nothing:
	// every line is validated (a FieldError names the line and field), the
	// trailer's counts and checksum must match, and the store's invariants
	// must hold before it commits. The import is recorded: the same stream
	// again answers the original result with Replayed set. Any other stream
	// into a store holding data fails with ErrStoreNotEmpty.
	Import(ctx context.Context, r io.Reader) (ImportResult, error)
}

// ExportOptions describe the export.
type ExportOptions struct {
	// ProgramID names the loyalty program in the header
	// ("namespace/name"); informative.
	ProgramID string
}

// ExportHeader is the first line of a stream.
type ExportHeader struct {
	Type    string `json:"type"`
	Format  string `json:"format"`
	Version int    `json:"version"`
	// ExportID is random per export.
	ExportID   string    `json:"exportId"`
	ProgramID  string    `json:"programId,omitempty"`
	ExportedAt time.Time `json:"exportedAt"`
	// Dialect is the store the stream was exported from ("sqlite",
	// "postgres") and SchemaVersion its last migration; both informative.
	Dialect       string `json:"dialect"`
	SchemaVersion int64  `json:"schemaVersion"`
}

// ExportTrailer is the last line of a stream.
type ExportTrailer struct {
	Type   string           `json:"type"`
	Counts map[string]int64 `json:"counts"`
	// SHA256 is the hex SHA-256 of every byte before the trailer line.
	SHA256 string `json:"sha256"`
}

// ExportSummary is what an export wrote.
type ExportSummary struct {
	Header ExportHeader     `json:"header"`
	Counts map[string]int64 `json:"counts"`
	SHA256 string           `json:"sha256"`
}

// ImportResult is an applied (or replayed) import.
type ImportResult struct {
	// ImportID is the stream's checksum, which identifies it.
	ImportID   string           `json:"importId"`
	ExportID   string           `json:"exportId"`
	ProgramID  string           `json:"programId,omitempty"`
	Dialect    string           `json:"sourceDialect"`
	ExportedAt time.Time        `json:"exportedAt"`
	ImportedAt time.Time        `json:"importedAt"`
	Counts     map[string]int64 `json:"counts"`
	Replayed   bool             `json:"replayed,omitempty"`
}
