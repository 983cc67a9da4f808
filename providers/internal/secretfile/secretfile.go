// Package secretfile reads small secret files kept on the node (a private
// key, a token) after checking that nobody but root, or the user pullkey
// runs as, can read or replace them. Error text names the file and the fix,
// never the content.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrUnsafe is wrapped by every refusal because of mode or ownership.
var ErrUnsafe = errors.New("unsafe secret file")

// Read returns the content of path, at most limit bytes. what names the
// file in errors ("private key file"). The file must be a regular file,
// unreadable by group and others, and owned by root or the current user.
func Read(what, path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s %s does not exist; create it (mode 0600, owner root) or fix the path in the config", what, path)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%s %s: permission denied; pullkey must run as root (kubelet runs it as root)", what, path)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := check(what, path, fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s %s: larger than %d bytes; is it the right file?", what, path, limit)
	}
	return b, nil
}

func check(what, path string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s %s is not a regular file", ErrUnsafe, what, path)
	}
	if perm := fi.Mode().Perm(); hasUnixModes && perm&0o077 != 0 {
		return fmt.Errorf("%w: %s %s has mode %04o, readable by group or others; run chmod 600 %s", ErrUnsafe, what, path, perm, path)
	}
	if uid, ok := ownerUID(fi); ok && uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("%w: %s %s is owned by uid %d, not root; run chown root:root %s", ErrUnsafe, what, path, uid, path)
	}
	return nil
}
