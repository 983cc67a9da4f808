package secretfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pullkey/pullkey/test/harness"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		return harness.WriteFile(t, dir, name, content, mode)
	}
	for _, tc := range []struct {
		name       string
		path       string
		want       string
		wantErr    string
		wantUnsafe bool
	}{
		{"ok", write("ok", "s3cret", 0o600), "s3cret", "", false},
		{"owner only read", write("ro", "s3cret", 0o400), "s3cret", "", false},
		{"group readable", write("g", "s3cret", 0o640), "", "chmod 600", true},
		{"world readable", write("w", "s3cret", 0o604), "", "mode 0604", true},
		{"too large", write("big", strings.Repeat("x", 11), 0o600), "", "larger than 10 bytes", false},
		{"missing", filepath.Join(dir, "absent"), "", "does not exist", false},
		{"directory", dir, "", "not a regular file", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Read("test file", tc.path, 10)
			if tc.wantErr == "" {
				if err != nil || string(b) != tc.want {
					t.Fatalf("got %q, %v", b, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if errors.Is(err, ErrUnsafe) != tc.wantUnsafe {
				t.Errorf("errors.Is(ErrUnsafe) = %v", !tc.wantUnsafe)
			}
		})
	}
}

func TestFIFOIsRefusedAtOnce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Read("token file", p, 1024); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Read blocked on a FIFO")
	}
}
