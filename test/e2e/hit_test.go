package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pullkey/pullkey/test/harness"
	"github.com/pullkey/pullkey/test/standin"
	"github.com/pullkey/pullkey/test/standin/all"
)

// TestCacheHitIsOffline fills the disk cache for one image of every cloud
// provider, then cuts every way out — a dead proxy, dead metadata and
// identity endpoints, an AWS config file that is a directory (loading the
// AWS SDK's configuration fails on it) — and checks that a second lookup
// still answers with the same credential from the cache, with no upstream
// call.
func TestCacheHitIsOffline(t *testing.T) {
	node, err := all.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	dead := "http://127.0.0.1:1"
	cutOff := append(append([]string{}, node.Env...),
		"HTTPS_PROXY="+dead, "HTTP_PROXY="+dead, "https_proxy="+dead, "http_proxy="+dead,
		"AWS_CONFIG_FILE="+t.TempDir(), "AWS_SHARED_CREDENTIALS_FILE="+t.TempDir(), "AWS_EC2_METADATA_SERVICE_ENDPOINT="+dead,
		"IDENTITY_ENDPOINT="+dead, "IDENTITY_HEADER=x", "MSI_ENDPOINT="+dead)
	clouds := 0
	for _, d := range node.Demos {
		if d.Calls == nil || len(d.Images) == 0 {
			continue // a local provider: nothing to cache
		}
		clouds++
		t.Run(d.Provider, func(t *testing.T) {
			req := harness.Request(d.Images[0])
			cold := harness.Run(t, node.Env, req, "--config", node.ConfigPath).Decode(t)
			calls, proxied := d.Calls.Load(), node.Proxied.Load()
			res := harness.Run(t, cutOff, req, "--config", node.ConfigPath, "--log-level", "info")
			hit := res.Decode(t)
			if len(hit.Auth) != 1 || len(cold.Auth) != 1 {
				t.Fatalf("answers %+v / %+v", cold, hit)
			}
			for k, a := range cold.Auth {
				if hit.Auth[k] != a {
					t.Fatalf("cache hit answered differently for %s", k)
				}
			}
			if !strings.Contains(res.Stderr, "cache=hit") {
				t.Fatalf("not a cache hit:\n%s", res.Stderr)
			}
			if d.Calls.Load() != calls || node.Proxied.Load() != proxied {
				t.Fatalf("cache hit reached upstream: mints %d→%d, proxied %d→%d", calls, d.Calls.Load(), proxied, node.Proxied.Load())
			}
		})
	}
	t.Logf("%d cloud providers checked", clouds)
}

// TestDiskCacheThroughTheBinary checks, with a real cloud provider, the
// cache directory the binary creates (0700, entries and locks 0600, no host
// name in any file name), that a corrupt entry is refetched and repaired,
// and that an unusable cache directory still gets an answer.
func TestDiskCacheThroughTheBinary(t *testing.T) {
	node, err := all.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	var cloud *standin.Demo
	for _, d := range node.Demos {
		if d.Calls != nil && len(d.Images) > 0 {
			cloud = d
			break
		}
	}
	if cloud == nil {
		t.Skip("no cloud stand-in")
	}
	req := harness.Request(cloud.Images[0])
	cacheDir := filepath.Join(t.TempDir(), "var", "lib", "pullkey")
	run := func(dir string) harness.Result {
		return harness.Run(t, node.Env, req, "--config", node.ConfigPath, "--cache-dir", dir, "--log-level", "info")
	}

	before := cloud.Calls.Load()
	first := run(cacheDir)
	first.Decode(t)
	fi, err := os.Stat(cacheDir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir: %v mode %v, want 0700", err, fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(cacheDir)
	var entryFile string
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o, want 600", e.Name(), info.Mode().Perm())
		}
		if strings.Contains(e.Name(), ".io") || strings.Contains(e.Name(), ".com") || strings.Contains(e.Name(), "123456789012") {
			t.Errorf("file name %q names the registry", e.Name())
		}
		if strings.HasSuffix(e.Name(), ".json") {
			entryFile = filepath.Join(cacheDir, e.Name())
		}
	}
	if entryFile == "" {
		t.Fatalf("no cache entry in %v", entries)
	}

	// A corrupt entry is a miss: refetched, answered, and rewritten.
	if err := os.WriteFile(entryFile, []byte(`{"version":1,"username":"x","pass`), 0o600); err != nil {
		t.Fatal(err)
	}
	repaired := run(cacheDir)
	repaired.Decode(t)
	if !strings.Contains(repaired.Stderr, "cache=miss") {
		t.Fatalf("corrupt entry was not a miss:\n%s", repaired.Stderr)
	}
	if hit := run(cacheDir); !strings.Contains(hit.Stderr, "cache=hit") {
		t.Fatalf("entry not repaired:\n%s", hit.Stderr)
	}
	if got := cloud.Calls.Load() - before; got != 2 {
		t.Fatalf("%d upstream mints, want 2 (first run and the corrupt entry)", got)
	}

	// A cache directory that cannot be created: still an answer, one warning.
	blocker := harness.WriteFile(t, t.TempDir(), "not-a-dir", "", 0o600)
	res := run(filepath.Join(blocker, "cache"))
	if resp := res.Decode(t); len(resp.Auth) != 1 {
		t.Fatalf("no credential without a cache: %+v", resp)
	}
	if n := strings.Count(res.Stderr, "cache unusable"); n != 1 {
		t.Fatalf("warned %d times:\n%s", n, res.Stderr)
	}
}
