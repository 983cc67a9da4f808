// Package harness drives the built pullkey binary the way kubelet does, for
// the end-to-end tests under test/: it builds bin/pullkey once per test
// binary, writes a CredentialProviderRequest to its stdin with a chosen
// environment, and decodes the CredentialProviderResponse from its stdout.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// RepoRoot is the pullkey checkout this package lives in.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary builds pullkey once (into a temp dir unless PULLKEY_BIN names a
// built one) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("PULLKEY_BIN"); p != "" {
			binPath, buildErr = filepath.Abs(p)
			return
		}
		dir, err := os.MkdirTemp("", "pullkey-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "pullkey")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/pullkey")
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Request returns a CredentialProviderRequest for image.
func Request(image string) string {
	b, _ := json.Marshal(map[string]string{
		"apiVersion": "credentialprovider.kubelet.k8s.io/v1",
		"kind":       "CredentialProviderRequest",
		"image":      image,
	})
	return string(b)
}

// Result is what one run of the binary produced.
type Result struct {
	Stdout, Stderr string
	Code           int
	Took           time.Duration
}

// Run executes pullkey with args, stdin and exactly the environment env
// (plus PATH and HOME, and nothing else from the test process, so no
// developer's cloud settings leak in).
func Run(t testing.TB, env []string, stdin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	res := Result{Stdout: out.String(), Stderr: errb.String(), Took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run pullkey: %v", err)
	}
	return res
}

// Auth is one entry of a response's auth map.
type Auth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Response is a decoded CredentialProviderResponse.
type Response struct {
	APIVersion    string          `json:"apiVersion"`
	Kind          string          `json:"kind"`
	CacheKeyType  string          `json:"cacheKeyType"`
	CacheDuration string          `json:"cacheDuration,omitempty"`
	Auth          map[string]Auth `json:"auth,omitempty"`
}

// Decode parses a successful run's stdout strictly, failing the test on an
// error exit or anything else on stdout.
func (r Result) Decode(t testing.TB) Response {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("pullkey exited %d; stderr:\n%s", r.Code, r.Stderr)
	}
	var resp Response
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		t.Fatalf("decode response %q: %v", r.Stdout, err)
	}
	if resp.APIVersion != "credentialprovider.kubelet.k8s.io/v1" || resp.Kind != "CredentialProviderResponse" {
		t.Fatalf("response type %s/%s", resp.APIVersion, resp.Kind)
	}
	return resp
}

// WriteFile writes content to name under dir with mode and returns its path.
func WriteFile(t testing.TB, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// ExpectFailure checks a run that must fail the way kubelet needs: exit
// code 1, nothing on stdout, within the --timeout it was given (plus slack
// for process start), and one stderr line that contains every want.
func (r Result) ExpectFailure(t testing.TB, timeout time.Duration, want ...string) {
	t.Helper()
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.Code, r.Stderr)
	}
	if r.Stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.Stdout)
	}
	if r.Took > timeout+2*time.Second {
		t.Errorf("took %s, want within the %s timeout (+ slack)", r.Took, timeout)
	}
	if lines := strings.Split(strings.TrimSpace(r.Stderr), "\n"); len(lines) != 1 {
		t.Errorf("stderr has %d lines, want 1:\n%s", len(lines), r.Stderr)
	}
	for _, s := range want {
		if !strings.Contains(r.Stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.Stderr)
		}
	}
}
