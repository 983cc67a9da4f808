package e2e

import (
	"strings"
	"testing"

	"github.com/pullkey/pullkey/test/harness"
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
