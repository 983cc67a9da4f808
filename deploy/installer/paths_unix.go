//go:build unix

package installer

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// openNoFollow opens a resolved path for reading without following a final
// symlink and without blocking on a FIFO or device: the caller fstats what
// it actually opened.
func openNoFollow(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is not a regular file (a symlink); remove it or choose another path", p)
	}
	return f, err
}
