// Package bench measures the built pullkey binary end to end against the
// local cloud stand-ins: one op is one kubelet invocation.
package bench

import (
	"testing"

	"github.com/pullkey/pullkey/test/harness"
	acrstandin "github.com/pullkey/pullkey/test/standin/acr"
)

func acrBenchEnv(b *testing.B) ([]string, *acrstandin.Identity, *acrstandin.Registry) {
	b.Helper()
	id := acrstandin.NewIdentity()
	b.Cleanup(id.Close)
	reg := &acrstandin.Registry{Valid: id.Issued}
	proxy := harness.StartProxy(b, reg)
	return append(proxy.Env(), id.Env()...), id, reg
}

// BenchmarkACRColdPath is one invocation with nothing cached: identity
// endpoint, then the exchange through the TLS proxy, then the answer.
func BenchmarkACRColdPath(b *testing.B) {
	env, id, reg := acrBenchEnv(b)
	req := harness.Request("myregistry.azurecr.io/web")
	harness.Binary(b)
	b.ResetTimer()
	for b.Loop() {
		res := harness.Run(b, env, req, "--no-cache")
		if res.Code != 0 {
			b.Fatalf("exit %d: %s", res.Code, res.Stderr)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(id.Calls())+len(reg.Exchanges()))/float64(b.N), "roundtrips/op")
}

// BenchmarkACRWarmPath is one invocation answered from the disk cache.
func BenchmarkACRWarmPath(b *testing.B) {
	env, id, reg := acrBenchEnv(b)
	req := harness.Request("myregistry.azurecr.io/web")
	dir := b.TempDir()
	if res := harness.Run(b, env, req, "--cache-dir", dir); res.Code != 0 {
		b.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	before := len(id.Calls()) + len(reg.Exchanges())
	b.ResetTimer()
	for b.Loop() {
		if res := harness.Run(b, env, req, "--cache-dir", dir); res.Code != 0 {
			b.Fatalf("exit %d: %s", res.Code, res.Stderr)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(id.Calls())+len(reg.Exchanges())-before)/float64(b.N), "roundtrips/op")
}
