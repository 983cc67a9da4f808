package bench

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pullkey/pullkey/test/harness"
	ecrstandin "github.com/pullkey/pullkey/test/standin/ecr"
)

const ecrBenchImage = "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app:1.0"

func ecrBenchEnv(b *testing.B) ([]string, *ecrstandin.StandIn) {
	b.Helper()
	s := ecrstandin.New()
	b.Cleanup(s.Close)
	proxy := harness.StartProxy(b, s)
	return append(proxy.Env(), s.Env()...), s
}

// BenchmarkECRColdPath is one invocation with an empty cache directory:
// IMDSv2 (token, role, credentials), GetAuthorizationToken through the TLS
// proxy, the cache write, the answer. roundtrips/op counts the HTTP
// requests the stand-in answered per invocation.
func BenchmarkECRColdPath(b *testing.B) {
	env, s := ecrBenchEnv(b)
	req := harness.Request(ecrBenchImage)
	harness.Binary(b)
	dir := b.TempDir()
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		res := harness.Run(b, env, req, "--cache-dir", filepath.Join(dir, strconv.Itoa(i)))
		if res.Code != 0 {
			b.Fatalf("exit %d: %s", res.Code, res.Stderr)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(s.RoundTrips())/float64(i), "roundtrips/op")
	b.ReportMetric(float64(s.Invocations())/float64(i), "tokencalls/op")
}

// BenchmarkECRWarmPath is one invocation answered from the disk cache.
func BenchmarkECRWarmPath(b *testing.B) {
	env, s := ecrBenchEnv(b)
	req := harness.Request(ecrBenchImage)
	dir := b.TempDir()
	if res := harness.Run(b, env, req, "--cache-dir", dir); res.Code != 0 {
		b.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	before := s.RoundTrips()
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		if res := harness.Run(b, env, req, "--cache-dir", dir); res.Code != 0 {
			b.Fatalf("exit %d: %s", res.Code, res.Stderr)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(s.RoundTrips()-before)/float64(i), "roundtrips/op")
}
