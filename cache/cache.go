// Package cache is pullkey's on-disk credential cache: a get-or-fetch
// wrapper shared safely between concurrent plugin processes, so that a node
// asks a cloud once per credential lifetime instead of once per image.
//
// It knows nothing about clouds. A key is a hash of length-prefixed parts
// (provider, registry, identity, ...); each key has an entry file and a
// separate lock file in one directory. Get reads the entry without a lock
// (entries are replaced by rename, so a reader sees a whole old or a whole
// new file); on a miss it takes the key's flock, reads again (another
// process may just have fetched), fetches, and writes a temporary file that
// it renames over the entry. Entries are versioned JSON; a corrupt,
// truncated or other-version entry is a miss, never an error.
//
// Refresh policy: an entry is fresh until ExpiresAt minus the refresh
// margin. A stale entry is refetched; if that fetch fails and the entry has
// not actually expired yet, the old credential is served with a warning (the
// caller tells kubelet not to cache it).
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"

	"github.com/pullkey/pullkey/providers"
)

// DefaultDir is where pullkey keeps its cache on a node.
const DefaultDir = "/var/lib/pullkey"

// DefaultRefreshMargin is how long before expiry a credential is refetched.
// Ten minutes leaves an image pull that starts just before the refresh
// enough time to finish with the old credential, and is small against every
// cloud's lifetime (GitHub 1 h, ACR ~3 h, ECR 12 h).
const DefaultRefreshMargin = 10 * time.Minute

// EntryVersion is the version of the entry file format.
const EntryVersion = 1

// maxEntrySize bounds what is read from an entry file.
const maxEntrySize = 64 << 10

// Outcome says how Get answered.
type Outcome string

const (
	Hit   Outcome = "hit"   // a fresh entry was on disk
	Miss  Outcome = "miss"  // fetched (and stored, if the directory allows)
	Stale Outcome = "stale" // the refresh failed; an unexpired entry was served
	Off   Outcome = "off"   // caching is disabled; fetched
)

// Key is a hashed cache key.
type Key string

// NewKey hashes length-prefixed parts, so ("ab","c") and ("a","bc") differ
// and no raw host or identity ever appears in a file name.
func NewKey(parts ...string) Key {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return Key(hex.EncodeToString(h.Sum(nil)))
}

// FetchFunc obtains a fresh credential.
type FetchFunc func(ctx context.Context) (providers.Credential, error)

// Cache is a get-or-fetch credential store.
type Cache interface {
	Get(ctx context.Context, key Key, fetch FetchFunc) (providers.Credential, Outcome, error)
}

// Null is a Cache that always fetches (caching disabled).
type Null struct{}

// Get implements Cache.
func (Null) Get(ctx context.Context, _ Key, fetch FetchFunc) (providers.Credential, Outcome, error) {
	c, err := fetch(ctx)
	return c, Off, err
}

// Disk is the on-disk Cache.
type Disk struct {
	dir    string
	margin time.Duration
	now    func() time.Time
	log    *slog.Logger
	// broken is set once the directory proved unusable, so the warning is
	// logged once per process and later keys skip straight to fetching.
	broken bool
}

// NewDisk returns a cache in dir. now is the clock (time.Now in
// production); margin is the refresh margin.
func NewDisk(dir string, margin time.Duration, now func() time.Time, log *slog.Logger) *Disk {
	return &Disk{dir: dir, margin: margin, now: now, log: log}
}

type entry struct {
	Version int `json:"version"`
	// Key is the entry's own key: an entry renamed to another key's file
	// name is a miss, not another registry's credential.
	Key       string    `json:"key"`
	Username  string    `json:"username"`
	Password  string    `json:"password"`
	ExpiresAt time.Time `json:"expiresAt"`
	FetchedAt time.Time `json:"fetchedAt"`
}

// DecodeEntry parses an entry file written for key. Anything but a complete
// entry of the current version for that key is an error (which callers
// treat as a miss).
func DecodeEntry(key Key, b []byte) (providers.Credential, error) {
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return providers.Credential{}, fmt.Errorf("decode cache entry: %w", err)
	}
	if e.Key != string(key) {
		return providers.Credential{}, errors.New("cache entry for another key")
	}
	if e.Version != EntryVersion {
		return providers.Credential{}, fmt.Errorf("cache entry version %d, want %d", e.Version, EntryVersion)
	}
	if e.Password == "" || e.ExpiresAt.IsZero() {
		return providers.Credential{}, errors.New("incomplete cache entry")
	}
	return providers.Credential{Username: e.Username, Password: providers.Secret(e.Password), ExpiresAt: e.ExpiresAt}, nil
}

// EncodeEntry is DecodeEntry's inverse.
func EncodeEntry(key Key, c providers.Credential, fetchedAt time.Time) ([]byte, error) {
	return json.Marshal(entry{
		Version: EntryVersion, Key: string(key), Username: c.Username, Password: c.Password.Reveal(),
		ExpiresAt: c.ExpiresAt.UTC(), FetchedAt: fetchedAt.UTC(),
	})
}

// Get implements Cache.
func (d *Disk) Get(ctx context.Context, key Key, fetch FetchFunc) (providers.Credential, Outcome, error) {
	if d.broken {
		c, err := fetch(ctx)
		return c, Off, err
	}
	entryPath := filepath.Join(d.dir, string(key)+".json")
	if d.checkDir() == nil {
		if c, ok := d.read(key, entryPath); ok && d.fresh(c) {
			return c, Hit, nil
		}
	}
	if err := d.ensureDir(); err != nil {
		return d.uncached(ctx, err, fetch)
	}
	lock := flock.New(filepath.Join(d.dir, string(key)+".lock"), flock.SetPermissions(0o600),
		flock.SetFlag(os.O_CREATE|os.O_RDWR|openFlags))
	locked, err := lock.TryLockContext(ctx, 20*time.Millisecond)
	if err != nil || !locked {
		if ctx.Err() != nil {
			return providers.Credential{}, Miss, fmt.Errorf("waiting for the cache lock: %w", ctx.Err())
		}
		return d.uncached(ctx, err, fetch)
	}
	defer lock.Unlock()

	old, haveOld := d.read(key, entryPath)
	if haveOld && d.fresh(old) {
		return old, Hit, nil
	}
	c, err := fetch(ctx)
	if err != nil {
		if haveOld && d.now().Before(old.ExpiresAt) {
			d.log.Warn("refresh failed; serving the cached credential until it expires",
				"expiresAt", old.ExpiresAt.Format(time.RFC3339), "error", err)
			return old, Stale, nil
		}
		return providers.Credential{}, Miss, err
	}
	if c.ExpiresAt.IsZero() {
		return c, Miss, nil // unknown lifetime: never stored
	}
	if err := d.write(key, entryPath, c); err != nil {
		d.warnBroken(err)
	}
	return c, Miss, nil
}

func (d *Disk) fresh(c providers.Credential) bool {
	return d.now().Add(d.margin).Before(c.ExpiresAt)
}

func (d *Disk) read(key Key, path string) (providers.Credential, bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return providers.Credential{}, false
	}
	defer f.Close()
	// Only a regular file of ours that nobody else can read or write is an
	// entry: anything else in the directory is ignored (a miss).
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 || !ownedByMe(fi) {
		d.log.Debug("ignoring a cache entry that is not a private regular file", "file", filepath.Base(path))
		return providers.Credential{}, false
	}
	b, err := io.ReadAll(io.LimitReader(f, maxEntrySize+1))
	if err != nil || len(b) > maxEntrySize {
		return providers.Credential{}, false
	}
	c, err := DecodeEntry(key, b)
	if err != nil {
		d.log.Debug("ignoring unreadable cache entry", "file", filepath.Base(path), "error", err)
		return providers.Credential{}, false
	}
	return c, true
}

// checkDir accepts the cache directory only if it is a real directory (not
// a symlink) owned by the user pullkey runs as, that nobody else may write
// to: anyone who could write there could plant credentials.
func (d *Disk) checkDir() error {
	fi, err := os.Lstat(d.dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory (a symlink?); pullkey only uses a directory of its own", d.dir)
	}
	if !ownedByMe(fi) {
		return fmt.Errorf("%s is owned by another user; remove it, or give pullkey a directory of its own (--cache-dir)", d.dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others", d.dir)
	}
	return nil
}

// ensureDir creates the cache directory 0700, or tightens the mode of one
// of ours, and checks it.
func (d *Disk) ensureDir() error {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	if fi, err := os.Lstat(d.dir); err == nil && fi.IsDir() && ownedByMe(fi) && fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(d.dir, 0o700); err != nil {
			return err
		}
	}
	return d.checkDir()
}

func (d *Disk) write(key Key, path string, c providers.Credential) error {
	b, err := EncodeEntry(key, c, d.now())
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.dir, ".entry-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (d *Disk) uncached(ctx context.Context, cause error, fetch FetchFunc) (providers.Credential, Outcome, error) {
	d.warnBroken(cause)
	c, err := fetch(ctx)
	return c, Off, err
}

func (d *Disk) warnBroken(err error) {
	if d.broken {
		return
	}
	d.broken = true
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = fmt.Errorf("%s %s: %w", pe.Op, pe.Path, pe.Err)
	}
	d.log.Warn("credential cache unusable; answering without it", "dir", d.dir, "error", err)
}
