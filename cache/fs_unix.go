//go:build unix

package cache

import (
	"os"
	"syscall"
)

// openFlags opens entries and locks without following a symlink and
// without blocking on a FIFO someone planted in the directory.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC

// ownedByMe reports whether fi belongs to the user pullkey runs as.
func ownedByMe(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}
