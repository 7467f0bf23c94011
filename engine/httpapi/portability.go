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

// exportStall is how long a chunk of the export may wait for the client to
// take it: a client that stops reading is cut off then, rather than holding
// the request (and, until the store's maximum read age, its snapshot)
// forever.
const exportStall = time.Minute

// exportWriter sets the stream's headers on the first write, so that an
// export that fails before writing anything is still answered by a problem.
type exportWriter struct {
	w     http.ResponseWriter
	wrote bool
}

func (e *exportWriter) Write(b []byte) (int, error) {
	_ = http.NewResponseController(e.w).SetWriteDeadline(time.Now().Add(exportStall))
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
	// A large ledger takes longer to send than the server's write timeout:
	// each chunk has exportStall instead.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	ew := &exportWriter{w: w}
	sum, err := s.svc.Export(r.Context(), ew)
	if err != nil {
		if !ew.wrote {
			s.fail(w, r, err)
			return
		}
		// The status is sent: the connection is cut before the end of the
		// stream, so that the client sees a failed transfer (and an import
		// a stream without its trailer).
		s.log.ErrorContext(r.Context(), "export failed", "error", err.Error())
		panic(http.ErrAbortHandler)
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{}) // the connection may serve another request
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
	res, err := s.svc.Import(r.Context(), http.MaxBytesReader(w, r.Body, MaxImportBody))
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
