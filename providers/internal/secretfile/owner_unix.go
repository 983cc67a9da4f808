//go:build unix

package secretfile

import (
	"os"
	"syscall"
)

// ownerUID is the file's owner, where the platform has one.
func ownerUID(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// hasUnixModes: group and other permission bits mean something here.
const hasUnixModes = true

// openFlags: a FIFO planted at the path must not block the open (the
// regular-file check then refuses it); symlinks are followed, because
// Kubernetes mounts secrets through them.
const openFlags = syscall.O_NONBLOCK | syscall.O_CLOEXEC
