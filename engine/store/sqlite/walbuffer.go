package sqlite

import (
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// walBufferVFS is the name of a VFS over SQLite's "unix" VFS that gathers
// the frames a transaction appends to the write-ahead log and writes them
// in calls of up to walBufferSize bytes. SQLite writes every WAL frame with
// two write calls (the 24-byte frame header, then the page); on the virtual
// machines the engine was measured on a system call costs about 2 µs, and
// those calls took a fifth of the engine's CPU in a batch earn. Main database files, journals and the WAL
// index are opened by the unix VFS untouched.
//
// Buffered bytes reach the file before anything can depend on them: before
// the WAL file is synced, read, truncated, sized, controlled or closed, before
// a write that does not continue the buffer, and right after the page of a
// commit frame (whose header has a non-zero database size), so a commit is in
// the file before SQLite publishes it in the WAL index, whatever the
// connection's synchronous setting. An error writing the buffer fails the
// write, sync or read that flushed it, and with it the transaction, which
// SQLite rolls back; nothing is acknowledged that was not written.
const walBufferVFS = "loyalty-walbuf"

// walBufferSize bounds the buffer of one WAL file. The unix VFS writes at
// most 128 KiB - 1 bytes per call (its seekAndWriteFd masks the length with
// 0x1ffff), so a buffer is flushed whole before it grows past that: a batch
// commit of a few MiB takes a few dozen calls instead of thousands.
const walBufferSize = 124 << 10

// walFileHeader is the room the wrapper keeps before the unix VFS's file
// object in a WAL file's allocation: its own methods pointer and padding.
const walFileHeader = 16

var (
	registerWALBufferOnce sync.Once
	registerWALBufferErr  error

	unixOpen uintptr // the unix VFS's xOpen

	// walMethods is the wrapper's io_methods table, built from the unix VFS's
	// methods of the first WAL file opened, and unixWALMethods those methods.
	walMethodsOnce sync.Once
	walMethods     uintptr
	unixWALMethods *sqlite3.Tsqlite3_io_methods

	walFilesMu sync.Mutex
	walFiles   = map[uintptr]*walFile{} // by the sqlite3_file SQLite allocated
)

// walFile is the state of one open WAL file.
type walFile struct {
	real  uintptr // the unix VFS's file object, walFileHeader bytes in
	buf   uintptr // walBufferSize bytes of C memory, allocated on first write
	n     int     // bytes buffered
	start int64   // file offset of the buffer's first byte
	// commitPage is set by a commit frame's header: the next write is the
	// frame's page, the last of the commit.
	commitPage bool
}

// registerWALBuffer registers walBufferVFS once per process.
func registerWALBuffer() error {
	registerWALBufferOnce.Do(func() {
		registerWALBufferErr = doRegisterWALBuffer()
	})
	return registerWALBufferErr
}

func doRegisterWALBuffer() error {
	tls := libc.NewTLS()
	defer tls.Close()
	unixName, err := libc.CString("unix")
	if err != nil {
		return fmt.Errorf("sqlite: WAL buffer VFS: %w", err)
	}
	defer libc.Xfree(tls, unixName)
	base := sqlite3.Xsqlite3_vfs_find(tls, unixName)
	if base == 0 {
		return fmt.Errorf("sqlite: WAL buffer VFS: no unix VFS")
	}
	unixVFS := (*sqlite3.Tsqlite3_vfs)(cMem(base))
	unixOpen = unixVFS.FxOpen

	name, err := libc.CString(walBufferVFS)
	if err != nil {
		return fmt.Errorf("sqlite: WAL buffer VFS: %w", err)
	}
	p := libc.Xcalloc(tls, 1, libc.Tsize_t(unsafe.Sizeof(sqlite3.Tsqlite3_vfs{})))
	if p == 0 {
		return fmt.Errorf("sqlite: WAL buffer VFS: out of memory")
	}
	vfs := (*sqlite3.Tsqlite3_vfs)(cMem(p))
	*vfs = *unixVFS // every other method, and pAppData, stay the unix VFS's
	vfs.FpNext = 0
	vfs.FzName = name
	vfs.FszOsFile = unixVFS.FszOsFile + walFileHeader
	vfs.FxOpen = cFunc(walVFSOpen)
	if rc := sqlite3.Xsqlite3_vfs_register(tls, p, 0); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("sqlite: register WAL buffer VFS: code %d", rc)
	}
	return nil
}

// walVFSOpen opens WAL files wrapped and every other file as the unix VFS
// does, in place, so that their calls go straight to it.
func walVFSOpen(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	if flags&sqlite3.SQLITE_OPEN_WAL == 0 {
		return callOpen(unixOpen, tls, pVfs, zName, pFile, flags, pOutFlags)
	}
	inner := pFile + walFileHeader
	file := (*sqlite3.Tsqlite3_file)(cMem(pFile))
	rc := callOpen(unixOpen, tls, pVfs, zName, inner, flags, pOutFlags)
	realMethods := (*sqlite3.Tsqlite3_file)(cMem(inner)).FpMethods
	if realMethods == 0 {
		file.FpMethods = 0 // nothing to close
		return rc
	}
	walMethodsOnce.Do(func() { buildWALMethods(tls, realMethods) })
	if walMethods == 0 || realMethods != uintptr(unsafe.Pointer(unixWALMethods)) {
		// Methods other than those the table wraps (or no table, out of
		// memory): reopen the file in place, unbuffered.
		callFile((*sqlite3.Tsqlite3_io_methods)(cMem(realMethods)).FxClose, tls, inner)
		return callOpen(unixOpen, tls, pVfs, zName, pFile, flags, pOutFlags)
	}
	walFilesMu.Lock()
	walFiles[pFile] = &walFile{real: inner}
	walFilesMu.Unlock()
	file.FpMethods = walMethods
	return rc
}

func buildWALMethods(tls *libc.TLS, realMethods uintptr) {
	p := libc.Xcalloc(tls, 1, libc.Tsize_t(unsafe.Sizeof(sqlite3.Tsqlite3_io_methods{})))
	if p == 0 {
		return
	}
	unixWALMethods = (*sqlite3.Tsqlite3_io_methods)(cMem(realMethods))
	m := (*sqlite3.Tsqlite3_io_methods)(cMem(p))
	*m = *unixWALMethods
	m.FxClose = cFunc(walClose)
	m.FxRead = cFunc(walRead)
	m.FxWrite = cFunc(walWrite)
	m.FxTruncate = cFunc(walTruncate)
	m.FxSync = cFunc(walSync)
	m.FxFileSize = cFunc(walFileSize)
	m.FxLock = cFunc(walLock)
	m.FxUnlock = cFunc(walUnlock)
	m.FxCheckReservedLock = cFunc(walCheckReservedLock)
	m.FxFileControl = cFunc(walFileControl)
	m.FxSectorSize = cFunc(walSectorSize)
	m.FxDeviceCharacteristics = cFunc(walDeviceCharacteristics)
	// A WAL file has no shared memory and is never memory-mapped.
	m.FiVersion = 1
	m.FxShmMap, m.FxShmLock, m.FxShmBarrier, m.FxShmUnmap, m.FxFetch, m.FxUnfetch = 0, 0, 0, 0, 0, 0
	walMethods = p
}

func lookupWAL(pFile uintptr) *walFile {
	walFilesMu.Lock()
	f := walFiles[pFile]
	walFilesMu.Unlock()
	return f
}

// flushWAL writes the buffer of a WAL file before a call that must see the
// file as SQLite wrote it.
func flushWAL(tls *libc.TLS, pFile uintptr) (*walFile, int32) {
	f := lookupWAL(pFile)
	return f, f.flush(tls)
}

// flush writes the buffer to the file.
func (f *walFile) flush(tls *libc.TLS) int32 {
	if f.n == 0 {
		return sqlite3.SQLITE_OK
	}
	n, start := f.n, f.start
	f.n = 0
	return callReadWrite(unixWALMethods.FxWrite, tls, f.real, f.buf, int32(n), start)
}

func walWrite(tls *libc.TLS, pFile, pBuf uintptr, amt int32, off int64) int32 {
	f := lookupWAL(pFile)
	// A commit frame's page is flushed with it even when it did not fit
	// behind its header and the buffer was written first to make room.
	commitPage := f.commitPage
	f.commitPage = false
	if f.n > 0 && (off != f.start+int64(f.n) || f.n+int(amt) > walBufferSize) {
		if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
			return rc
		}
	}
	if int(amt) > walBufferSize {
		return callReadWrite(unixWALMethods.FxWrite, tls, f.real, pBuf, amt, off)
	}
	if f.buf == 0 {
		if f.buf = libc.Xmalloc(tls, walBufferSize); f.buf == 0 {
			return sqlite3.SQLITE_NOMEM
		}
	}
	if f.n == 0 {
		f.start = off
	}
	libc.Xmemcpy(tls, f.buf+uintptr(f.n), pBuf, libc.Tsize_t(amt))
	f.n += int(amt)
	if commitPage {
		return f.flush(tls)
	}
	// A frame header is 24 bytes; bytes 4-7 are the database size in pages
	// after a commit, zero in the other frames.
	if amt == 24 && binary.BigEndian.Uint32(unsafe.Slice((*byte)(cMem(pBuf)), 24)[4:8]) != 0 {
		f.commitPage = true
	}
	return sqlite3.SQLITE_OK
}

func walRead(tls *libc.TLS, pFile, pBuf uintptr, amt int32, off int64) int32 {
	f, rc := flushWAL(tls, pFile)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return callReadWrite(unixWALMethods.FxRead, tls, f.real, pBuf, amt, off)
}

func walSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	f, rc := flushWAL(tls, pFile)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return callInt(unixWALMethods.FxSync, tls, f.real, flags)
}

func walTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	f, rc := flushWAL(tls, pFile)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return callInt64(unixWALMethods.FxTruncate, tls, f.real, size)
}

func walFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	f, rc := flushWAL(tls, pFile)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return callPtr(unixWALMethods.FxFileSize, tls, f.real, pSize)
}

func walFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	f, rc := flushWAL(tls, pFile)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return callIntPtr(unixWALMethods.FxFileControl, tls, f.real, op, pArg)
}

func walClose(tls *libc.TLS, pFile uintptr) int32 {
	f, rc := flushWAL(tls, pFile)
	if crc := callFile(unixWALMethods.FxClose, tls, f.real); rc == sqlite3.SQLITE_OK {
		rc = crc
	}
	if f.buf != 0 {
		libc.Xfree(tls, f.buf)
	}
	walFilesMu.Lock()
	delete(walFiles, pFile)
	walFilesMu.Unlock()
	return rc
}

func walLock(tls *libc.TLS, pFile uintptr, lock int32) int32 {
	return callInt(unixWALMethods.FxLock, tls, lookupWAL(pFile).real, lock)
}

func walUnlock(tls *libc.TLS, pFile uintptr, lock int32) int32 {
	return callInt(unixWALMethods.FxUnlock, tls, lookupWAL(pFile).real, lock)
}

func walCheckReservedLock(tls *libc.TLS, pFile, pResOut uintptr) int32 {
	return callPtr(unixWALMethods.FxCheckReservedLock, tls, lookupWAL(pFile).real, pResOut)
}

func walSectorSize(tls *libc.TLS, pFile uintptr) int32 {
	return callFile(unixWALMethods.FxSectorSize, tls, lookupWAL(pFile).real)
}

func walDeviceCharacteristics(tls *libc.TLS, pFile uintptr) int32 {
	return callFile(unixWALMethods.FxDeviceCharacteristics, tls, lookupWAL(pFile).real)
}

// cMem turns an address of C memory (the SQLite library's heap) into a
// pointer; nothing in the Go heap is ever addressed this way.
func cMem(p uintptr) unsafe.Pointer { return unsafe.Add(nil, p) }

// cFunc is the C function pointer of a Go function, as the transpiled
// library represents function pointers (see modernc.org/sqlite's
// cFuncPointer): the address of the function value.
func cFunc[T any](f T) uintptr {
	return *(*uintptr)(unsafe.Pointer(&struct{ f T }{f}))
}

// The call helpers call a C function pointer of the unix VFS with the
// signature their names describe.

func callOpen(fp uintptr, tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	return (*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{fp})))(tls, pVfs, zName, pFile, flags, pOutFlags)
}

func callFile(fp uintptr, tls *libc.TLS, pFile uintptr) int32 {
	return (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{fp})))(tls, pFile)
}

func callReadWrite(fp uintptr, tls *libc.TLS, pFile, pBuf uintptr, amt int32, off int64) int32 {
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&struct{ uintptr }{fp})))(tls, pFile, pBuf, amt, off)
}

func callInt(fp uintptr, tls *libc.TLS, pFile uintptr, v int32) int32 {
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&struct{ uintptr }{fp})))(tls, pFile, v)
}

func callInt64(fp uintptr, tls *libc.TLS, pFile uintptr, v int64) int32 {
	return (*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&struct{ uintptr }{fp})))(tls, pFile, v)
}

func callPtr(fp uintptr, tls *libc.TLS, pFile, p uintptr) int32 {
	return (*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{fp})))(tls, pFile, p)
}

func callIntPtr(fp uintptr, tls *libc.TLS, pFile uintptr, v int32, p uintptr) int32 {
	return (*(*func(*libc.TLS, uintptr, int32, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{fp})))(tls, pFile, v, p)
}
