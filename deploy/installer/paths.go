package installer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxSymlinks bounds symlink resolution, as the kernel does.
const maxSymlinks = 40

// host is the node's file system seen from the installer: Root is where the
// node's "/" is mounted ("/" itself, or a hostPath mount like "/host").
type host struct {
	Root string
}

// resolve maps an absolute node path to a path under Root, following
// symlinks the way the node would see them: an absolute link target is
// taken relative to Root (as a chroot does), and a relative target that
// climbs above Root is refused. Missing components are fine: they are
// created later, as directories the installer owns.
func (h host) resolve(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("path %q must be absolute", p)
	}
	todo := splitPath(filepath.Clean(p))
	var cur []string
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return "", fmt.Errorf("path %s: a symlink leads out of the host root %s; refusing", p, h.Root)
			}
			cur = cur[:len(cur)-1]
			continue
		}
		full := filepath.Join(append([]string{h.Root}, append(cur, c)...)...)
		fi, err := os.Lstat(full)
		if errors.Is(err, fs.ErrNotExist) {
			cur = append(cur, c)
			continue
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = append(cur, c)
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("path %s: too many levels of symlinks", p)
		}
		target, err := os.Readlink(full)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			cur = nil
		}
		todo = append(splitPath(target), todo...)
	}
	return filepath.Join(append([]string{h.Root}, cur...)...), nil
}

func splitPath(p string) []string {
	return strings.Split(filepath.ToSlash(p), "/")
}

// checkDirs checks every existing directory from Root down to dir (a
// resolved path): each must be a directory, owned by root or by the user
// running the installer, and not writable by group or others; otherwise
// someone else could swap the files kubelet runs as root. It returns the
// missing directories, outermost first.
func (h host) checkDirs(dir string) ([]string, error) {
	rel, err := filepath.Rel(h.Root, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("%s is outside the host root %s", dir, h.Root)
	}
	parts := []string{h.Root}
	if rel != "." {
		for _, c := range splitPath(rel) {
			parts = append(parts, filepath.Join(parts[len(parts)-1], c))
		}
	}
	var missing []string
	for _, d := range parts {
		if len(missing) > 0 {
			missing = append(missing, d)
			continue
		}
		fi, err := os.Lstat(d)
		if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, d)
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := dirSafe(d, fi); err != nil {
			return nil, err
		}
	}
	return missing, nil
}

func dirSafe(d string, fi fs.FileInfo) error {
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory; remove it or choose another path", d)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o); run chmod go-w %s or choose another path", d, fi.Mode().Perm(), d)
	}
	if uid, ok := foreignOwner(fi); ok {
		return fmt.Errorf("%s is owned by uid %d, not root; run chown root %s or choose another path", d, uid, d)
	}
	return nil
}

// readFile reads a resolved file, bounded. A missing file gives nil, false.
func readFile(p string, limit int64) ([]byte, fs.FileMode, bool, error) {
	b, fi, ok, err := readFileInfo(p, limit)
	if err != nil || !ok {
		return nil, 0, false, err
	}
	return b, fi.Mode().Perm(), true, nil
}

// readFileInfo reads a resolved file, bounded, and returns the FileInfo of
// the file it actually read: it opens without following a symlink and
// without blocking, checks the open file (not the path, which could be
// swapped in between) is a regular file within limit, and reads at most
// limit+1 bytes, so a file that grows meanwhile is refused too.
func readFileInfo(p string, limit int64) ([]byte, fs.FileInfo, bool, error) {
	f, err := openNoFollow(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, false, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, false, fmt.Errorf("%s is not a regular file; remove it or choose another path", p)
	}
	if fi.Size() > limit {
		return nil, nil, false, fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, nil, false, err
	}
	if int64(len(b)) > limit {
		return nil, nil, false, fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	return b, fi, true, nil
}

// fileSafe refuses an existing file the installer would rewrite (or trust)
// when someone other than root could have changed it: writable by group or
// others, or owned by another user. A config kubelet reads as root that
// anyone can edit is a way to root (an env: LD_PRELOAD=... entry).
func fileSafe(p string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o); run chmod go-w %s, check its content, then rerun", p, fi.Mode().Perm(), p)
	}
	if uid, ok := foreignOwner(fi); ok {
		return fmt.Errorf("%s is owned by uid %d, not root; run chown root %s, check its content, then rerun", p, uid, p)
	}
	return nil
}

// foreignOwner returns a file's owner when it is neither root nor the
// user running the installer.
func foreignOwner(fi fs.FileInfo) (uint32, bool) {
	uid, ok := ownerUID(fi)
	return uid, ok && uid != 0 && int(uid) != os.Geteuid()
}

// safeMode drops group and other write bits, and anything beyond the
// permission bits (setuid, setgid, sticky), from a mode to write.
func safeMode(m fs.FileMode) fs.FileMode { return m & 0o777 &^ 0o022 }

// writeAtomic replaces p with content: a temp file in the same directory,
// written, synced, chmod-ed, then renamed over p, and the directory synced.
// A running kubelet sees the old file or the new one, never a partial one,
// and replacing a binary that is being executed never fails with ETXTBSY.
func writeAtomic(p string, content []byte, mode fs.FileMode) error {
	dir := filepath.Dir(p)
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+".pullkey-tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(content); err != nil {
		return err
	}
	if err := f.Chmod(safeMode(mode)); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !syncUnsupported(err) {
		return err
	}
	return nil
}

// NodeIsDir reports whether a node path under hostRoot is an existing
// directory (symlinks resolved safely).
func NodeIsDir(hostRoot, path string) bool {
	h, err := newHost(hostRoot)
	if err != nil {
		return false
	}
	real, err := h.resolve(path)
	if err != nil {
		return false
	}
	fi, err := os.Stat(real)
	return err == nil && fi.IsDir()
}
