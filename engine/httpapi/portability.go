package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/auth"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// MaxImportBody bounds the body of POST /v1/import. The stream is read line
// by line, never whole, so the bound is only against a runaway upload: an
// export runs to a few hundred bytes per entry, so 16 GiB holds tens of
// millions of entries.
const MaxImportBody = 16 << 30

// ndjson is the media type of the export stream.
const ndjson = "application/x-ndjson"

// exportWriter sets the stream's headers on the first write, so that an
// export that fails before writing anything is still answered by a problem.
type exportWriter struct {
	w     http.ResponseWriter
	wrote bool
}

func (e *exportWriter) Write(b []byte) (int, error) {
	if !e.wrote {
		e.wrote = true
		h := e.w.Header()
		h.Set("Content-Type", ndjson)
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Disposition", `attachment; filename="ledger-export.ndjson"`)
		e.w.WriteHeader(http.StatusOK)
	}
	n, err := e.w.Write(b)
	if err == nil {
		// The store writes in chunks of its buffer: send each one on.
		err = http.NewResponseController(e.w).Flush()
	}
	return n, err
}

// export serves GET /v1/export: the ledger as the export stream, streamed
// from one snapshot.
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	if err := s.auth.Authenticate(r, auth.ScopeAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	// A large ledger takes longer to send than the server's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	var program string
	if snap := s.config.Current(); snap != nil {
		program = snap.Program.Namespace + "/" + snap.Program.Name
	}
	ew := &exportWriter{w: w}
	sum, err := s.ledger.Export(r.Context(), ew, ledger.ExportOptions{ProgramID: program})
	if err != nil {
		if !ew.wrote {
			s.fail(w, r, err)
			return
		}
		// The status is sent: the stream ends without its trailer, which
		// an import detects as a truncated stream.
		s.log.ErrorContext(r.Context(), "export failed", "error", err.Error())
		return
	}
	s.log.InfoContext(r.Context(), "ledger exported", "exportId", sum.Header.ExportID, "sha256", sum.SHA256, "counts", sum.Counts)
}

// importLedger serves POST /v1/import: an export stream loaded into an
// empty store, 201 with the import's result, or 200 with the original
// result when the same stream was imported already.
func (s *Server) importLedger(w http.ResponseWriter, r *http.Request) {
	if err := s.auth.Authenticate(r, auth.ScopeAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != ndjson && mt != "application/jsonl") {
			s.fail(w, r, newProblem(http.StatusUnsupportedMediaType, "unsupported_media_type", "Unsupported media type",
				fmt.Sprintf("Content-Type %q: send the export stream as %s", ct, ndjson)))
			return
		}
	}
	// The body streams for as long as it takes, up to MaxImportBody.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	res, err := s.ledger.Import(r.Context(), http.MaxBytesReader(w, r.Body, MaxImportBody))
	if err != nil {
		s.fail(w, r, importProblem(err))
		return
	}
	status := http.StatusCreated
	if res.Replayed {
		status = http.StatusOK
	} else {
		s.log.InfoContext(r.Context(), "ledger imported", "importId", res.ImportID, "exportId", res.ExportID, "counts", res.Counts)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}

// importProblem maps the errors only an import has; problemFor the rest.
func importProblem(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, ledger.ErrStoreNotEmpty):
		return newProblem(http.StatusConflict, "store_not_empty", "Conflict", err.Error())
	case errors.As(err, &mbe):
		return decodeProblem(err)
	}
	return err
}
