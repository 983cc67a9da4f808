//go:build !unix

package installer

import (
	"fmt"
	"io/fs"
	"os"
)

// openNoFollow opens a resolved path for reading, refusing a symlink; the
// caller fstats what it actually opened.
func openNoFollow(p string) (*os.File, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s is not a regular file (a symlink); remove it or choose another path", p)
	}
	return os.Open(p)
}
