//go:build unix

package installer

import (
	"errors"
	"io/fs"
	"syscall"
)

// ownerUID returns a file's owner.
func ownerUID(fi fs.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}

// syncUnsupported: some file systems cannot fsync a directory.
func syncUnsupported(err error) bool { return errors.Is(err, syscall.EINVAL) }

// dirNotEmpty reports a failed rmdir of a directory that has entries.
func dirNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}
