package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pullkey/pullkey/providers"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestCache(t *testing.T, dir string) (*Disk, *clock, *bytes.Buffer) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	return NewDisk(dir, 10*time.Minute, clk.now, slog.New(slog.NewTextHandler(&logs, nil))), clk, &logs
}

type counter struct {
	mu    sync.Mutex
	calls int
	cred  providers.Credential
	err   error
}

func (c *counter) fetch(context.Context) (providers.Credential, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return c.cred, c.err
}

func TestDiskGetOrFetch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	d, clk, _ := newTestCache(t, dir)
	key := NewKey("ecr", "us-west-2", "123456789012")
	f := &counter{cred: providers.Credential{Username: "AWS", Password: "pw1", ExpiresAt: clk.t.Add(time.Hour)}}

	steps := []struct {
		name      string
		advance   time.Duration
		setCred   *providers.Credential
		setErr    error
		want      Outcome
		wantPw    string
		wantCalls int
		wantErr   bool
	}{
		{name: "cold cache fetches", want: Miss, wantPw: "pw1", wantCalls: 1},
		{name: "fresh entry is a hit", advance: 10 * time.Minute, want: Hit, wantPw: "pw1", wantCalls: 1},
		{name: "inside the refresh margin refetches", advance: 41 * time.Minute,
			setCred: &providers.Credential{Username: "AWS", Password: "pw2", ExpiresAt: clk.t.Add(3 * time.Hour)}, want: Miss, wantPw: "pw2", wantCalls: 2},
		{name: "refresh failure serves the unexpired entry", advance: 2 * time.Hour,
			setErr: errors.New("throttled"), want: Stale, wantPw: "pw2", wantCalls: 3},
		{name: "refresh failure after expiry is an error", advance: 10 * time.Minute, want: Miss, wantCalls: 4, wantErr: true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clk.t = clk.t.Add(s.advance)
			if s.setCred != nil {
				f.cred = *s.setCred
			}
			if s.setErr != nil {
				f.err = s.setErr
			}
			c, outcome, err := d.Get(context.Background(), key, f.fetch)
			if (err != nil) != s.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, s.wantErr)
			}
			if outcome != s.want || f.calls != s.wantCalls || (!s.wantErr && c.Password.Reveal() != s.wantPw) {
				t.Fatalf("got %s pw %q calls %d; want %s %q %d", outcome, c.Password.Reveal(), f.calls, s.want, s.wantPw, s.wantCalls)
			}
		})
	}
}

func TestDiskPermissionsAndNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	d, clk, _ := newTestCache(t, dir)
	f := &counter{cred: providers.Credential{Username: "u", Password: "secret-pw", ExpiresAt: clk.t.Add(time.Hour)}}
	if _, _, err := d.Get(context.Background(), NewKey("acr", "myregistry.azurecr.io", "client-id-1"), f.fetch); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %o, want 700", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("want an entry and a lock file, got %v", entries)
	}
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o, want 600", e.Name(), info.Mode().Perm())
		}
		if strings.Contains(e.Name(), "azurecr") || strings.Contains(e.Name(), "client-id") {
			t.Errorf("file name %q leaks the key", e.Name())
		}
	}
}

func TestDiskCorruptEntryIsAMissAndRepaired(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":     "{not json",
		"truncated":   `{"version":1,"username":"u","password":"p","expi`,
		"old version": `{"version":0,"username":"u","password":"p","expiresAt":"2030-01-01T00:00:00Z"}`,
		"no password": `{"version":1,"username":"u","expiresAt":"2030-01-01T00:00:00Z"}`,
		"empty":       ``,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			d, clk, _ := newTestCache(t, dir)
			key := NewKey("p", "h")
			path := filepath.Join(dir, string(key)+".json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			f := &counter{cred: providers.Credential{Username: "u", Password: "fresh", ExpiresAt: clk.t.Add(time.Hour)}}
			c, outcome, err := d.Get(context.Background(), key, f.fetch)
			if err != nil || outcome != Miss || c.Password.Reveal() != "fresh" || f.calls != 1 {
				t.Fatalf("got %v %s %q calls %d", err, outcome, c.Password.Reveal(), f.calls)
			}
			b, _ := os.ReadFile(path)
			if got, err := DecodeEntry(key, b); err != nil || got.Password.Reveal() != "fresh" {
				t.Fatalf("entry not repaired: %v", err)
			}
		})
	}
}

func TestDiskUnusableDirAnswersAndWarnsOnce(t *testing.T) {
	parent := t.TempDir()
	blocker := filepath.Join(parent, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d, clk, logs := newTestCache(t, filepath.Join(blocker, "cache")) // a dir under a file
	f := &counter{cred: providers.Credential{Username: "u", Password: "pw", ExpiresAt: clk.t.Add(time.Hour)}}
	for i := 0; i < 3; i++ {
		c, outcome, err := d.Get(context.Background(), NewKey("k", strconv.Itoa(i)), f.fetch)
		if err != nil || c.Password.Reveal() != "pw" || outcome != Off {
			t.Fatalf("got %v %s", err, outcome)
		}
	}
	if n := strings.Count(logs.String(), "cache unusable"); n != 1 {
		t.Fatalf("warned %d times, want once:\n%s", n, logs)
	}
	if strings.Contains(logs.String(), "pw") {
		t.Fatal("log holds the password")
	}
}

func TestUnknownExpiryIsNotStored(t *testing.T) {
	dir := t.TempDir()
	d, _, _ := newTestCache(t, dir)
	f := &counter{cred: providers.Credential{Username: "u", Password: "pw"}}
	for i := 0; i < 2; i++ {
		if _, _, err := d.Get(context.Background(), NewKey("k"), f.fetch); err != nil {
			t.Fatal(err)
		}
	}
	if f.calls != 2 {
		t.Fatalf("calls %d, want 2", f.calls)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(matches) != 0 {
		t.Fatalf("stored %v", matches)
	}
}

func TestNewKeyIsLengthPrefixed(t *testing.T) {
	if NewKey("ab", "c") == NewKey("a", "bc") {
		t.Fatal("keys collide")
	}
	if NewKey("a") != NewKey("a") {
		t.Fatal("keys differ")
	}
}

// TestConcurrentProcessesFetchOnce starts 50 processes on one cold key:
// flock plus the re-read make exactly one of them fetch.
func TestConcurrentProcessesFetchOnce(t *testing.T) {
	if os.Getenv("PULLKEY_CACHE_CHILD") != "" {
		t.Skip("child")
	}
	dir := filepath.Join(t.TempDir(), "cache")
	counterFile := filepath.Join(t.TempDir(), "fetches")
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCacheChild$")
			cmd.Env = append(os.Environ(), "PULLKEY_CACHE_CHILD=1", "CACHE_DIR="+dir, "COUNTER_FILE="+counterFile)
			if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
				errs <- fmt.Errorf("child: %v\n%s", err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(counterFile)
	if got := strings.Count(string(b), "fetch\n"); got != 1 {
		t.Fatalf("%d fetches across %d processes, want 1", got, n)
	}
}

func TestCacheChild(t *testing.T) {
	if os.Getenv("PULLKEY_CACHE_CHILD") == "" {
		t.Skip("run by TestConcurrentProcessesFetchOnce")
	}
	d := NewDisk(os.Getenv("CACHE_DIR"), 10*time.Minute, time.Now, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	c, _, err := d.Get(context.Background(), NewKey("shared"), func(context.Context) (providers.Credential, error) {
		f, err := os.OpenFile(os.Getenv("COUNTER_FILE"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return providers.Credential{}, err
		}
		defer f.Close()
		f.WriteString("fetch\n")
		time.Sleep(100 * time.Millisecond) // widen the race window
		return providers.Credential{Username: "u", Password: "pw", ExpiresAt: time.Now().Add(time.Hour)}, nil
	})
	if err != nil || c.Password.Reveal() != "pw" {
		t.Fatalf("%v", err)
	}
}
