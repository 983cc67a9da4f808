//go:build unix

package installer

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "reg")
	if err := os.WriteFile(reg, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(reg, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		limit      int64
		want, err  string
		ok         bool
	}{
		{"regular", reg, 5, "hello", "", true},
		{"too large", reg, 4, "", "larger than 4 bytes", false},
		{"missing", filepath.Join(dir, "none"), 5, "", "", false},
		{"symlink", filepath.Join(dir, "link"), 5, "", "not a regular file", false},
		// A FIFO must be refused at once, not block the install.
		{"fifo", filepath.Join(dir, "fifo"), 5, "", "not a regular file", false},
		// Its stat size (0) says nothing about what a read returns: the
		// read itself must be bounded.
		{"stat size lies", "/proc/self/status", 16, "", "larger than 16 bytes", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.HasPrefix(tt.path, "/proc/") {
				if _, err := os.Stat(tt.path); err != nil {
					t.Skip("no /proc")
				}
			}
			b, _, ok, err := readFile(tt.path, tt.limit)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %q, %v; want error %q", b, err, tt.err)
				}
				return
			}
			if err != nil || ok != tt.ok || string(b) != tt.want {
				t.Fatalf("got %q, %v, %v; want %q, %v", b, ok, err, tt.want, tt.ok)
			}
		})
	}
}
