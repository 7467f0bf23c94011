//go:build !linux

package sqlite

import (
	"errors"
	"os"
)

// allocate writes size zero bytes where there is no fallocate.
func allocate(f *os.File, size int64) error { return writeZeros(f, size) }

// freeSpace is unknown here: the reserve is then made whenever it fits.
func freeSpace(string) (int64, error) { return 0, errors.New("free space unknown on this system") }
