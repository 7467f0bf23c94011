//go:build !unix

package sqlite

import "os"

// lockDatabase opens path+".lock" where the system has no flock: a second
// engine on the same file is not detected there.
func lockDatabase(path string) (*os.File, error) {
	return os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
}
