package cache

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pullkey/pullkey/providers"
)

// TestPlantedFilesAreNotTrusted: whoever can put files where the cache
// lives must not be able to inject a credential, make pullkey create files
// elsewhere, or hang it.
func TestPlantedFilesAreNotTrusted(t *testing.T) {
	key := NewKey("ecr", "123456789012", "us-west-2")
	other := NewKey("ecr", "210987654321", "us-west-2")
	good := func(d *Disk, clk *clock) []byte {
		b, _ := EncodeEntry(key, providers.Credential{Username: "AWS", Password: "planted", ExpiresAt: clk.t.Add(time.Hour)}, clk.t)
		return b
	}
	tests := []struct {
		name string
		// plant prepares dir (the cache dir path) and returns the path of
		// a file that must not exist afterwards, if any.
		plant   func(t *testing.T, dir string, d *Disk, clk *clock) (mustNotExist string)
		wantOut Outcome
	}{
		{"cache dir is a symlink", func(t *testing.T, dir string, d *Disk, clk *clock) string {
			target := t.TempDir()
			os.WriteFile(filepath.Join(target, string(key)+".json"), good(d, clk), 0o600)
			must(t, os.Symlink(target, dir))
			return filepath.Join(target, string(key)+".lock")
		}, Off},
		{"symlink at the lock path", func(t *testing.T, dir string, d *Disk, clk *clock) string {
			must(t, os.MkdirAll(dir, 0o700))
			victim := filepath.Join(t.TempDir(), "created-by-root")
			must(t, os.Symlink(victim, filepath.Join(dir, string(key)+".lock")))
			return victim
		}, Off},
		{"symlink at the entry path", func(t *testing.T, dir string, d *Disk, clk *clock) string {
			must(t, os.MkdirAll(dir, 0o700))
			elsewhere := filepath.Join(t.TempDir(), "entry.json")
			must(t, os.WriteFile(elsewhere, good(d, clk), 0o600))
			must(t, os.Symlink(elsewhere, filepath.Join(dir, string(key)+".json")))
			return ""
		}, Miss},
		{"FIFO at the entry path", func(t *testing.T, dir string, d *Disk, clk *clock) string {
			must(t, os.MkdirAll(dir, 0o700))
			must(t, syscall.Mkfifo(filepath.Join(dir, string(key)+".json"), 0o600))
			return ""
		}, Miss},
		{"entry readable by others", func(t *testing.T, dir string, d *Disk, clk *clock) string {
			must(t, os.MkdirAll(dir, 0o700))
			p := filepath.Join(dir, string(key)+".json")
			must(t, os.WriteFile(p, good(d, clk), 0o644))
			must(t, os.Chmod(p, 0o644))
			return ""
		}, Miss},
		{"another key's entry renamed", func(t *testing.T, dir string, d *Disk, clk *clock) string {
			must(t, os.MkdirAll(dir, 0o700))
			b, _ := EncodeEntry(other, providers.Credential{Username: "AWS", Password: "planted", ExpiresAt: clk.t.Add(time.Hour)}, clk.t)
			must(t, os.WriteFile(filepath.Join(dir, string(key)+".json"), b, 0o600))
			return ""
		}, Miss},
		{"group-writable cache dir of ours is tightened", func(t *testing.T, dir string, d *Disk, clk *clock) string {
			must(t, os.MkdirAll(dir, 0o700))
			must(t, os.Chmod(dir, 0o777))
			return ""
		}, Miss},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			d, clk, _ := newTestCache(t, dir)
			mustNotExist := tt.plant(t, dir, d, clk)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			f := &counter{cred: providers.Credential{Username: "AWS", Password: "fetched", ExpiresAt: clk.t.Add(time.Hour)}}
			c, outcome, err := d.Get(ctx, key, f.fetch)
			if err != nil || c.Password.Reveal() != "fetched" || outcome != tt.wantOut {
				t.Fatalf("got %q %s %v; want the fetched credential, outcome %s", c.Password.Reveal(), outcome, err, tt.wantOut)
			}
			if time.Since(start) > time.Second {
				t.Fatalf("took %s", time.Since(start))
			}
			if mustNotExist != "" {
				if _, err := os.Lstat(mustNotExist); err == nil {
					t.Fatalf("pullkey created %s through a planted link", mustNotExist)
				}
			}
		})
	}
}

func TestForeignCacheDirIsNotUsed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := filepath.Join(t.TempDir(), "cache")
	must(t, os.MkdirAll(dir, 0o700))
	must(t, os.Chown(dir, 1000, 1000))
	d, clk, logs := newTestCache(t, dir)
	f := &counter{cred: providers.Credential{Username: "u", Password: "fetched", ExpiresAt: clk.t.Add(time.Hour)}}
	if _, outcome, err := d.Get(context.Background(), NewKey("k"), f.fetch); err != nil || outcome != Off {
		t.Fatalf("outcome %s err %v, want Off", outcome, err)
	}
	if !strings.Contains(logs.String(), "owned by another user") {
		t.Fatalf("no warning naming the cause:\n%s", logs)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("wrote into a foreign directory: %v", entries)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
