// Package bench measures the built pullkey binary as kubelet runs it,
// against local stand-ins of the clouds. Benchmarks report; they never fail
// on a slow machine.
package bench

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/pullkey/pullkey/test/harness"
	ghstandin "github.com/pullkey/pullkey/test/standin/github"
)

// ghcrBench sets up the GitHub stand-in behind the MITM proxy and returns
// pullkey's environment, its config path and the proxied-request counter.
func ghcrBench(b *testing.B) ([]string, string, *atomic.Int64) {
	b.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	keyPath, err := ghstandin.WriteKey(dir, "github-app.pem", key, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	gh := ghstandin.NewServer(ghstandin.DemoAppID, "", &key.PublicKey)
	b.Cleanup(gh.Close)
	gh.AddInstallation(ghstandin.Installation{ID: 1, Account: "my-org", Org: true, Permissions: map[string]string{"packages": "read"}})
	var trips atomic.Int64
	proxy := harness.StartProxy(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trips.Add(1)
		gh.ServeHTTP(w, r)
	}))
	cfg, err := json.Marshal(map[string]any{
		"apiVersion": "pullkey.dev/v1alpha1", "kind": "PullkeyConfig",
		"providers": map[string]any{"ghcr": map[string]any{"owners": map[string]any{
			"my-org": map[string]any{"app": map[string]any{"appID": ghstandin.DemoAppID, "privateKeyFile": keyPath}},
		}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return proxy.Env(), harness.WriteFile(b, dir, "config.json", string(cfg), 0o600), &trips
}

// BenchmarkGHCRColdPath is one invocation with nothing cached: read the
// key, sign the JWT, look up the installation, mint a token (HTTPS through
// the proxy), answer. The wall time includes process start.
func BenchmarkGHCRColdPath(b *testing.B) {
	env, cfg, trips := ghcrBench(b)
	req := harness.Request("ghcr.io/my-org/app")
	harness.Binary(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := harness.Run(b, env, req, "--config", cfg, "--no-cache"); res.Code != 0 {
			b.Fatalf("exit %d: %s", res.Code, res.Stderr)
		}
	}
	b.ReportMetric(float64(trips.Load())/float64(b.N), "roundtrips/op")
}

// BenchmarkGHCRCacheHit is one invocation answered from the disk cache.
func BenchmarkGHCRCacheHit(b *testing.B) {
	env, cfg, trips := ghcrBench(b)
	req := harness.Request("ghcr.io/my-org/app")
	cache := b.TempDir()
	if res := harness.Run(b, env, req, "--config", cfg, "--cache-dir", cache); res.Code != 0 {
		b.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	trips.Store(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := harness.Run(b, env, req, "--config", cfg, "--cache-dir", cache); res.Code != 0 {
			b.Fatalf("exit %d: %s", res.Code, res.Stderr)
		}
	}
	b.ReportMetric(float64(trips.Load())/float64(b.N), "roundtrips/op")
}
