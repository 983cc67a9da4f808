package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pullkey/pullkey/test/harness"
	"github.com/pullkey/pullkey/test/standin"
	ecrstandin "github.com/pullkey/pullkey/test/standin/ecr"
)

const ecrImage = "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app"

// ecrWorld is one test's AWS: the stand-in behind the MITM proxy, the
// environment that makes pullkey's SDK use them, and a cache directory.
type ecrWorld struct {
	s      *ecrstandin.StandIn
	proxy  *harness.Proxy
	env    []string
	cache  string
	strays atomic.Int64 // proxied requests for hosts the stand-in does not play
}

func newECRWorld(t *testing.T) *ecrWorld {
	t.Helper()
	w := &ecrWorld{s: ecrstandin.New(), cache: filepath.Join(t.TempDir(), "cache")}
	t.Cleanup(w.s.Close)
	w.proxy = harness.StartProxy(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !ecrstandin.Plays(strings.Split(r.Host, ":")[0]) {
			w.strays.Add(1)
			http.Error(rw, "no stand-in plays "+r.Host, http.StatusBadGateway)
			return
		}
		w.s.ServeHTTP(rw, r)
	}))
	w.env = append(w.proxy.Env(), w.s.Env()...)
	return w
}

// run runs pullkey for image with the world's environment and cache.
func (w *ecrWorld) run(t *testing.T, image string, args ...string) harness.Result {
	t.Helper()
	return harness.Run(t, w.env, harness.Request(image), append([]string{"--cache-dir", w.cache}, args...)...)
}

func ecrWriteConfig(t *testing.T, section string) string {
	t.Helper()
	return harness.WriteFile(t, t.TempDir(), "pullkey.yaml",
		"apiVersion: pullkey.dev/v1alpha1\nkind: PullkeyConfig\nproviders:\n  ecr:\n"+section, 0o600)
}

func ecrCheckAnswer(t *testing.T, w *ecrWorld, res harness.Result, host string) harness.Response {
	t.Helper()
	resp := res.Decode(t)
	if resp.CacheKeyType != "Registry" {
		t.Errorf("cacheKeyType = %q, want Registry", resp.CacheKeyType)
	}
	want := map[string]harness.Auth{host: {Username: "AWS", Password: w.s.Password}}
	if len(resp.Auth) != 1 || resp.Auth[host] != want[host] {
		t.Errorf("auth = %+v, want %+v", resp.Auth, want)
	}
	return resp
}

// ecrCheckCalls checks that calls are the attempts of exactly one operation
// call of api, each sent to host and signed for region and service with a
// key whose id starts with keyPrefix. (Attempts, not calls, are what a
// transport-level retry of the SDK adds: one call is what pullkey asks.)
func ecrCheckCalls(t *testing.T, calls []ecrstandin.Call, api ecrstandin.API, host, region, service, keyPrefix string) {
	t.Helper()
	invocations := map[string]bool{}
	for _, c := range calls {
		invocations[c.Invocation] = true
		if c.API != api || c.Host != host || c.Region != region || c.Service != service || !strings.HasPrefix(c.AccessKeyID, keyPrefix) {
			t.Errorf("call = %+v, want %s at %s signed for %s/%s by %s…", c, api, host, region, service, keyPrefix)
		}
	}
	if len(invocations) != 1 {
		t.Errorf("%d operation calls (%+v), want 1", len(invocations), calls)
	}
}

func TestECRBasicAnswer(t *testing.T) {
	w := newECRWorld(t)
	res := w.run(t, ecrImage+":v1")
	resp := ecrCheckAnswer(t, w, res, "123456789012.dkr.ecr.us-west-2.amazonaws.com")

	got, err := time.ParseDuration(resp.CacheDuration)
	if err != nil {
		t.Fatalf("cacheDuration %q: %v", resp.CacheDuration, err)
	}
	want := ecrstandin.TokenLifetime - 10*time.Minute // default refresh margin
	if got > want || got < want-5*time.Second {
		t.Errorf("cacheDuration = %s, want %s (token expiry less the 10m margin) within a few seconds", got, want)
	}
	ecrCheckCalls(t, w.s.Calls(), ecrstandin.ECR, "api.ecr.us-west-2.amazonaws.com", "us-west-2", "ecr", "ASIASTANDINNODE")

	// Another repository of the same registry: served from the disk cache.
	res = w.run(t, "123456789012.dkr.ecr.us-west-2.amazonaws.com/other/repo@sha256:"+strings.Repeat("a", 64))
	ecrCheckAnswer(t, w, res, "123456789012.dkr.ecr.us-west-2.amazonaws.com")
	if n := w.s.Invocations(); n != 1 {
		t.Errorf("GetAuthorizationToken calls after a second image = %d, want 1", n)
	}
}

func TestECRHostTable(t *testing.T) {
	tests := []struct {
		host, apiHost, service, region string
	}{
		{"123456789012.dkr.ecr.us-west-2.amazonaws.com", "api.ecr.us-west-2.amazonaws.com", "ecr", "us-west-2"},
		{"123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", "api.ecr-fips.us-east-1.amazonaws.com", "ecr", "us-east-1"},
		{"123456789012.dkr.ecr.us-gov-west-1.amazonaws.com", "api.ecr.us-gov-west-1.amazonaws.com", "ecr", "us-gov-west-1"},
		{"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "api.ecr-fips.us-gov-west-1.amazonaws.com", "ecr", "us-gov-west-1"},
		{"123456789012.dkr-ecr.eu-central-1.on.aws", "ecr.eu-central-1.api.aws", "ecr", "eu-central-1"},
		{"123456789012.dkr-ecr-fips.us-east-2.on.aws", "ecr-fips.us-east-2.api.aws", "ecr", "us-east-2"},
		{"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "api.ecr.cn-north-1.amazonaws.com.cn", "ecr", "cn-north-1"},
		{"123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn", "ecr.cn-northwest-1.api.amazonwebservices.com.cn", "ecr", "cn-northwest-1"},
		{"123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu", "api.ecr.eusc-de-east-1.amazonaws.eu", "ecr", "eusc-de-east-1"},
		{"123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov", "api.ecr.us-iso-east-1.c2s.ic.gov", "ecr", "us-iso-east-1"},
		{"123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", "api.ecr.us-isob-east-1.sc2s.sgov.gov", "ecr", "us-isob-east-1"},
		{"123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", "api.ecr.eu-isoe-west-1.cloud.adc-e.uk", "ecr", "eu-isoe-west-1"},
		{"123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", "api.ecr.us-isof-south-1.csp.hci.ic.gov", "ecr", "us-isof-south-1"},
		{"public.ecr.aws", "api.ecr-public.us-east-1.amazonaws.com", "ecr-public", "us-east-1"},
		{"ecr-public.aws.com", "ecr-public.us-east-1.api.aws", "ecr-public", "us-east-1"},
	}
	w := newECRWorld(t)
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			before := len(w.s.Calls())
			w.cache = filepath.Join(t.TempDir(), "cache")
			res := w.run(t, tt.host+"/team/app:1")
			ecrCheckAnswer(t, w, res, tt.host)
			api := ecrstandin.ECR
			if tt.service == "ecr-public" {
				api = ecrstandin.ECRPublic
			}
			ecrCheckCalls(t, w.s.Calls()[before:], api, tt.apiHost, tt.region, tt.service, "ASIASTANDINNODE")
		})
	}
	if n := w.strays.Load(); n != 0 {
		t.Errorf("%d requests went to hosts the stand-in does not play", n)
	}
}

func TestECRLookalikesGetNothing(t *testing.T) {
	images := []string{
		"123456789012.dkr.ecr.us-west-2.amazonaws.com.evil.io/team/app",
		"evil.io/123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app",
		"evil.io/123456789012.dkr.ecr.us-west-2.amazonaws.com",
		"12345678901.dkr.ecr.us-west-2.amazonaws.com/team/app",
		"1234567890123.dkr.ecr.us-west-2.amazonaws.com/team/app",
		"x23456789012.dkr.ecr.us-west-2.amazonaws.com/team/app",
		"123456789012.dkr.ecr.us-west-2.amazonaws.com:443/team/app",
		"123456789012.DKR.ECR.us-west-2.amazonaws.com/team/app",
		"123456789012.dkr.ecr.US-WEST-2.amazonaws.com/team/app",
		"123456789012.dkr.ecr.us-west-2.amazonaws.co/team/app",
		"123456789012.dkr.ecr.us-west-2.amazonaws.comx/team/app",
		"123456789012.dkrxecr.us-west-2.amazonaws.com/team/app",
		"123456789012.dkr.ecr.us-west-2.evilamazonaws.com/team/app",
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com/team/app",
		"123456789012.dkr.ecr.us-west-2.amazonaws.com.cn/team/app",
		"123456789012.dkr.ecr.us-west-2.on.aws.evil.io/team/app",
		"a.123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app",
		"public.ecr.aws.evil.io/team/app",
		"evilpublic.ecr.aws/team/app",
		"x.public.ecr.aws/team/app",
		"public.ecr.aws:5000/team/app",
		"ecr-public.aws.com.evil.io/team/app",
		"amazonaws.com/team/app",
		"team/app",
	}
	w := newECRWorld(t)
	for _, img := range images {
		t.Run(img, func(t *testing.T) {
			res := w.run(t, img)
			resp := res.Decode(t)
			if len(resp.Auth) != 0 {
				t.Errorf("auth = %+v, want none", resp.Auth)
			}
		})
	}
	if n := w.s.RoundTrips() + w.strays.Load(); n != 0 {
		t.Errorf("lookalikes caused %d network calls, want 0", n)
	}
}

func TestECRConcurrentColdStartMintsOnce(t *testing.T) {
	w := newECRWorld(t)
	const n = 50
	wave := func() {
		var wg sync.WaitGroup
		results := make([]harness.Result, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = w.run(t, fmt.Sprintf("123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app-%d:1", i))
			}()
		}
		wg.Wait()
		for _, res := range results {
			ecrCheckAnswer(t, w, res, "123456789012.dkr.ecr.us-west-2.amazonaws.com")
		}
	}
	wave()
	if got := w.s.Invocations(); got != 1 {
		t.Fatalf("first wave of %d cold invocations: %d GetAuthorizationToken calls, want 1", n, got)
	}
	wave()
	if got := w.s.Invocations(); got != 1 {
		t.Errorf("second wave: %d more GetAuthorizationToken calls, want 0", got-1)
	}
}

func TestECRThrottledTwiceThenOK(t *testing.T) {
	w := newECRWorld(t)
	w.s.ThrottleNext.Store(2)
	ecrCheckAnswer(t, w, w.run(t, ecrImage), "123456789012.dkr.ecr.us-west-2.amazonaws.com")
	throttled := 0
	for _, c := range w.s.Calls() {
		if c.Status == http.StatusTooManyRequests {
			throttled++
		}
	}
	if got := w.s.Invocations(); got != 1 || throttled != 2 || w.s.Mints.Load() < 1 {
		t.Errorf("%d calls with %d throttled attempts and %d mints, want one call: two throttled attempts, then served", got, throttled, w.s.Mints.Load())
	}
}

// TestECRFailuresInsideDeadline checks that every failure ends inside
// --timeout with one stderr line naming the cause and saying what to do,
// and nothing on stdout.
func TestECRFailuresInsideDeadline(t *testing.T) {
	const timeout = 3 * time.Second
	tests := []struct {
		name  string
		knob  func(*ecrstandin.StandIn)
		image string
		want  []string
	}{
		{"always throttled", func(s *ecrstandin.StandIn) { s.AlwaysThrottle.Store(true) }, ecrImage,
			[]string{"throttled", "ThrottlingException", "retry later"}},
		{"IMDS hangs", func(s *ecrstandin.StandIn) { s.HangIMDS.Store(true) }, ecrImage,
			[]string{"no AWS credentials", "IMDS", "did not answer", "hop limit"}},
		{"API hangs", func(s *ecrstandin.StandIn) { s.HangAPI.Store(true) }, ecrImage,
			[]string{"api.ecr.us-west-2.amazonaws.com did not answer in time"}},
		{"no instance role", func(s *ecrstandin.StandIn) { s.NoRole.Store(true) }, ecrImage,
			[]string{"no AWS credentials", "no IAM role", "AmazonEC2ContainerRegistryReadOnly"}},
		{"access denied", func(s *ecrstandin.StandIn) { s.DenyToken.Store(true) }, ecrImage,
			[]string{"AccessDeniedException", ecrstandin.NodeRoleARN, "ecr:GetAuthorizationToken", "aws iam attach-role-policy",
				"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"}},
		{"access denied, GovCloud", func(s *ecrstandin.StandIn) { s.DenyToken.Store(true) }, "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com/a",
			[]string{"arn:aws-us-gov:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"}},
		{"access denied, public", func(s *ecrstandin.StandIn) { s.DenyToken.Store(true) }, "public.ecr.aws/team/tool",
			[]string{"ecr-public:GetAuthorizationToken", "sts:GetServiceBearerToken", "AmazonElasticContainerRegistryPublicReadOnly"}},
		{"clock skew", func(s *ecrstandin.StandIn) { s.SkewClock.Store(true) }, ecrImage,
			[]string{"InvalidSignatureException", "clock", "time sync"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newECRWorld(t)
			tt.knob(w.s)
			res := w.run(t, tt.image, "--timeout", timeout.String())
			res.ExpectFailure(t, timeout, tt.want...)
			if w.s.Mints.Load() != 0 {
				t.Errorf("a token was minted")
			}
		})
	}
}

// TestECRIMDSDisabled: a node that turns IMDS off gets told so, at once.
func TestECRIMDSDisabled(t *testing.T) {
	w := newECRWorld(t)
	w.env = append(w.env, "AWS_EC2_METADATA_DISABLED=true")
	res := w.run(t, ecrImage, "--timeout", "3s")
	if res.Code != 1 || res.Stdout != "" || !strings.Contains(res.Stderr, "IMDS is disabled (AWS_EC2_METADATA_DISABLED)") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, and IMDS named as disabled", res.Code, res.Stdout, res.Stderr)
	}
	if n := w.s.RoundTrips(); n != 0 {
		t.Errorf("%d requests reached the stand-in", n)
	}
}

func TestECRAssumeRole(t *testing.T) {
	const role = "arn:aws:iam::210987654321:role/pullkey-cross-account"
	cfg := ecrWriteConfig(t, "    roleARN: "+role+"\n    externalID: ext-1234\n")

	t.Run("ok", func(t *testing.T) {
		w := newECRWorld(t)
		image := "210987654321.dkr.ecr-fips.us-east-1.amazonaws.com/shared/base"
		ecrCheckAnswer(t, w, w.run(t, image, "--config", cfg), "210987654321.dkr.ecr-fips.us-east-1.amazonaws.com")
		var sts, token []ecrstandin.Call
		for _, c := range w.s.Calls() {
			if c.API == ecrstandin.STS {
				sts = append(sts, c)
			} else {
				token = append(token, c)
			}
		}
		// AssumeRole at the FIPS STS endpoint signed by the node role, then
		// GetAuthorizationToken at the FIPS ECR API signed by the role.
		ecrCheckCalls(t, sts, ecrstandin.STS, "sts-fips.us-east-1.amazonaws.com", "us-east-1", "sts", "ASIASTANDINNODE")
		ecrCheckCalls(t, token, ecrstandin.ECR, "api.ecr-fips.us-east-1.amazonaws.com", "us-east-1", "ecr", "ASIASTANDINROLE")
		// The assumed role's token is cached under its own key: the node
		// role's identity (no config) asks again.
		ecrCheckAnswer(t, w, w.run(t, image), "210987654321.dkr.ecr-fips.us-east-1.amazonaws.com")
		ecrCheckAnswer(t, w, w.run(t, image, "--config", cfg), "210987654321.dkr.ecr-fips.us-east-1.amazonaws.com")
		if got := w.s.Invocations(); got != 2 {
			t.Errorf("GetAuthorizationToken calls = %d, want 2 (one per identity)", got)
		}
	})
	t.Run("denied", func(t *testing.T) {
		w := newECRWorld(t)
		w.s.DenyAssumeRole.Store(true)
		res := w.run(t, ecrImage, "--config", cfg, "--timeout", "3s")
		if res.Code != 1 || res.Stdout != "" {
			t.Fatalf("exit %d, stdout %q; want 1 and nothing", res.Code, res.Stdout)
		}
		for _, s := range []string{"could not assume role " + role, "AccessDenied", "sts:AssumeRole", "trust policy"} {
			if !strings.Contains(res.Stderr, s) {
				t.Errorf("stderr does not mention %q:\n%s", s, res.Stderr)
			}
		}
	})
	t.Run("bad config", func(t *testing.T) {
		w := newECRWorld(t)
		bad := ecrWriteConfig(t, "    region: us-west-2\n")
		res := w.run(t, ecrImage, "--config", bad)
		if res.Code != 1 || res.Stdout != "" || !strings.Contains(res.Stderr, "region") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, and the unknown key named", res.Code, res.Stdout, res.Stderr)
		}
		if w.s.RoundTrips() != 0 {
			t.Errorf("a bad config caused network calls")
		}
	})
}

// TestECREndpointOverride: a user's AWS_ENDPOINT_URL_ECR (a VPC endpoint, a
// test double) is used as is, even for a FIPS host, whose variant the SDK
// would otherwise refuse to combine with a custom endpoint.
func TestECREndpointOverride(t *testing.T) {
	w := newECRWorld(t)
	srv := httptest.NewServer(w.s)
	t.Cleanup(srv.Close)
	w.env = append(w.env, "AWS_ENDPOINT_URL_ECR="+srv.URL)
	ecrCheckAnswer(t, w, w.run(t, "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/a/b"), "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com")
	ecrCheckCalls(t, w.s.Calls(), ecrstandin.ECR, "127.0.0.1", "us-east-1", "ecr", "ASIASTANDINNODE")
}

// TestECRSecretsNeverOnStderr runs successes, cache hits and failures at
// debug level and checks that no password, token or AWS secret is logged.
func TestECRSecretsNeverOnStderr(t *testing.T) {
	w := newECRWorld(t)
	var stderr strings.Builder
	for range 2 { // a miss, then a hit
		res := w.run(t, ecrImage, "-v")
		ecrCheckAnswer(t, w, res, "123456789012.dkr.ecr.us-west-2.amazonaws.com")
		stderr.WriteString(res.Stderr)
	}
	w.s.DenyToken.Store(true)
	res := w.run(t, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/a", "-v")
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1", res.Code)
	}
	stderr.WriteString(res.Stderr)
	if !strings.Contains(stderr.String(), "level=DEBUG") {
		t.Fatalf("no debug output at -v:\n%s", stderr.String())
	}
	for _, secret := range []string{w.s.Password, w.s.Token(), base64.StdEncoding.EncodeToString([]byte(w.s.Password))} {
		if strings.Contains(stderr.String(), secret) {
			t.Errorf("stderr contains a secret:\n%s", stderr.String())
		}
	}
	// The cache file keeps the password only inside the 0700 directory.
	entries, _ := os.ReadDir(w.cache)
	for _, e := range entries {
		if strings.Contains(e.Name(), "123456789012") {
			t.Errorf("cache file name %q names the account", e.Name())
		}
	}
}

// TestECRDemo runs the images `make demo` shows through the demo's own
// plumbing: the stand-in's Demo behind standin.Router and one MITM proxy.
func TestECRDemo(t *testing.T) {
	d, err := ecrstandin.NewDemo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	proxy := harness.StartProxy(t, standin.Router([]*standin.Demo{d}))
	env := append(proxy.Env(), d.Env...)
	cache := filepath.Join(t.TempDir(), "cache")
	for _, img := range d.Images {
		resp := harness.Run(t, env, harness.Request(img), "--cache-dir", cache).Decode(t)
		host := strings.SplitN(img, "/", 2)[0]
		if a, ok := resp.Auth[host]; !ok || a.Username != "AWS" || a.Password == "" {
			t.Errorf("%s: auth = %+v", img, resp.Auth)
		}
	}
	if got := d.Calls.Load(); got < int64(len(d.Images)) {
		t.Errorf("demo minted %d tokens for %d registries", got, len(d.Images))
	}
}

// TestECRHugeBodiesAreRefused: an answer padded past 1 MiB (valid JSON
// after 8 MiB of whitespace, so a client reading without a bound would
// succeed) fails inside --timeout with one line naming the size limit, and
// is not asked for again.
func TestECRHugeBodiesAreRefused(t *testing.T) {
	const timeout = 3 * time.Second
	tests := []struct {
		name  string
		knob  func(*ecrstandin.StandIn) *atomic.Bool
		calls int64 // GetAuthorizationToken requests expected
		want  []string
	}{
		{"GetAuthorizationToken", func(s *ecrstandin.StandIn) *atomic.Bool { return &s.HugeAPI },
			1,
			[]string{"GetAuthorizationToken", "api.ecr.us-west-2.amazonaws.com", "over pullkey's 1048576-byte limit", "AWS_ENDPOINT_URL_"}},
		{"IMDS credentials", func(s *ecrstandin.StandIn) *atomic.Bool { return &s.HugeIMDS },
			0,
			[]string{"no AWS credentials", "over pullkey's 1048576-byte limit", "AWS_EC2_METADATA_SERVICE_ENDPOINT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newECRWorld(t)
			tt.knob(w.s).Store(true)
			res := w.run(t, ecrImage, "--timeout", timeout.String())
			res.ExpectFailure(t, timeout, tt.want...)
			if n := w.s.TokenCalls.Load(); n != tt.calls {
				t.Errorf("%d GetAuthorizationToken requests, want %d (an oversized answer is not retried)", n, tt.calls)
			}
			t.Logf("took %s; stderr: %s", res.Took.Round(time.Millisecond), res.Stderr)
		})
	}
}
