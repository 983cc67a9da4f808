package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
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
	ghstandin "github.com/pullkey/pullkey/test/standin/github"
)

const (
	ghcrAppID  = 123456
	ghcrInstID = 4242
)

var (
	ghcrKeyOnce sync.Once
	ghcrKeyVal  *rsa.PrivateKey
	ghcrKeyErr  error
)

// ghcrKey is the test App's key, generated once per test binary.
func ghcrKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	ghcrKeyOnce.Do(func() { ghcrKeyVal, ghcrKeyErr = rsa.GenerateKey(rand.Reader, 2048) })
	if ghcrKeyErr != nil {
		t.Fatal(ghcrKeyErr)
	}
	return ghcrKeyVal
}

// ghcrWorld is one test's GitHub: the API stand-in at api.github.com behind
// the MITM proxy, the App's key file and a cache directory.
type ghcrWorld struct {
	gh      *ghstandin.Server
	keyPath string
	dir     string
	cache   string
	env     []string
	// proxied counts every request that reached the proxy, for any host.
	proxied atomic.Int64
}

func newGHCRWorld(t testing.TB) *ghcrWorld {
	t.Helper()
	key := ghcrKey(t)
	w := &ghcrWorld{dir: t.TempDir(), cache: t.TempDir()}
	w.gh = ghstandin.NewServer(ghcrAppID, "Iv1.test", &key.PublicKey)
	t.Cleanup(w.gh.Close)
	w.gh.AddInstallation(ghstandin.Installation{ID: ghcrInstID, Account: "my-org", Org: true, Permissions: map[string]string{"packages": "read", "metadata": "read"}})
	var err error
	if w.keyPath, err = ghstandin.WriteKey(w.dir, "github-app.pem", key, 0o600); err != nil {
		t.Fatal(err)
	}
	proxy := harness.StartProxy(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.proxied.Add(1)
		if r.Host != "api.github.com" {
			http.Error(rw, "unexpected host "+r.Host, http.StatusBadGateway)
			return
		}
		w.gh.ServeHTTP(rw, r)
	}))
	w.env = proxy.Env()
	return w
}

// config writes a pullkey config whose ghcr section is section.
func (w *ghcrWorld) config(t testing.TB, section any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"apiVersion": "pullkey.dev/v1alpha1",
		"kind":       "PullkeyConfig",
		"providers":  map[string]any{"ghcr": section},
	})
	if err != nil {
		t.Fatal(err)
	}
	return harness.WriteFile(t, t.TempDir(), "config.json", string(b), 0o600)
}

// appSource is an app source for the test App.
func (w *ghcrWorld) appSource(extra map[string]any) map[string]any {
	app := map[string]any{"appID": ghcrAppID, "privateKeyFile": w.keyPath}
	for k, v := range extra {
		app[k] = v
	}
	return map[string]any{"app": app}
}

func (w *ghcrWorld) run(t testing.TB, cfg, image string, args ...string) harness.Result {
	t.Helper()
	return harness.Run(t, w.env, harness.Request(image), append([]string{"--config", cfg, "--cache-dir", w.cache}, args...)...)
}

// ghcrOnlyAuth checks resp has exactly one auth entry, key, and returns it.
func ghcrOnlyAuth(t *testing.T, resp harness.Response, key string) harness.Auth {
	t.Helper()
	if resp.CacheKeyType != "Image" {
		t.Errorf("cacheKeyType %q, want Image (per-owner credentials on one host)", resp.CacheKeyType)
	}
	a, ok := resp.Auth[key]
	if !ok || len(resp.Auth) != 1 {
		t.Fatalf("auth keys %v, want exactly [%s]", ghcrKeys(resp), key)
	}
	return a
}

func ghcrKeys(resp harness.Response) []string {
	var out []string
	for k := range resp.Auth {
		out = append(out, k)
	}
	return out
}

func TestGHCRAppSource(t *testing.T) {
	w := newGHCRWorld(t)
	w.gh.AddInstallation(ghstandin.Installation{ID: 77, Account: "some-user", Org: false, Permissions: map[string]string{"packages": "read"}})
	cfg := w.config(t, map[string]any{"owners": map[string]any{
		"my-org":    w.appSource(nil),
		"Some-User": w.appSource(nil), // owner keys are case-insensitive
	}})

	resp := w.run(t, cfg, "ghcr.io/my-org/app:1.0").Decode(t)
	mints := w.gh.Mints()
	if len(mints) != 1 {
		t.Fatalf("mints %d, want 1", len(mints))
	}
	m := mints[0]
	got := ghcrOnlyAuth(t, resp, "ghcr.io/my-org")
	if want := (harness.Auth{Username: "x-access-token", Password: m.Token}); got != want {
		t.Errorf("auth username %q, password matches minted token: %v", got.Username, got.Password == m.Token)
	}
	if len(m.Token) < 500 {
		t.Errorf("stand-in token is %d chars; it should be in the long format", len(m.Token))
	}
	if m.Alg != "RS256" || m.Issuer != "123456" || m.Lifetime > 10*time.Minute || m.Installation != ghcrInstID {
		t.Errorf("JWT alg %s iss %s lifetime %s, installation %d", m.Alg, m.Issuer, m.Lifetime, m.Installation)
	}
	if len(m.Permissions) != 1 || m.Permissions["packages"] != "read" || m.Repositories != nil {
		t.Errorf("token request permissions %v repositories %v, want exactly packages: read", m.Permissions, m.Repositories)
	}
	if d, err := time.ParseDuration(resp.CacheDuration); err != nil || d <= 45*time.Minute || d > 50*time.Minute {
		t.Errorf("cacheDuration %q, want about 50m (1h token less the 10m refresh margin)", resp.CacheDuration)
	}

	// The same owner again: served from the disk cache, no new mint.
	again := w.run(t, cfg, "ghcr.io/my-org/other").Decode(t)
	if a := ghcrOnlyAuth(t, again, "ghcr.io/my-org"); a.Password != m.Token || len(w.gh.Mints()) != 1 {
		t.Errorf("second lookup minted again (%d mints)", len(w.gh.Mints()))
	}

	// A user account: the org lookup answers 404, the user lookup finds
	// it. The auth key keeps the image's spelling.
	before := w.gh.Requests()
	user := w.run(t, cfg, "ghcr.io/some-user/tool").Decode(t)
	mints = w.gh.Mints()
	if len(mints) != 2 || mints[1].Installation != 77 {
		t.Fatalf("user installation not used: %+v", mints)
	}
	if a := ghcrOnlyAuth(t, user, "ghcr.io/some-user"); a.Password != mints[1].Token {
		t.Error("user image did not get the user installation's token")
	}
	if n := w.gh.Requests() - before; n != 3 {
		t.Errorf("user lookup took %d API requests, want 3 (org 404, user, mint)", n)
	}
}

func TestGHCRAppInstallationAndRepositories(t *testing.T) {
	w := newGHCRWorld(t)
	cfg := w.config(t, map[string]any{"owners": map[string]any{
		"my-org": w.appSource(map[string]any{"installationID": ghcrInstID, "repositories": []string{"app", "base"}}),
	}})
	resp := w.run(t, cfg, "ghcr.io/my-org/app").Decode(t)
	mints := w.gh.Mints()
	if len(mints) != 1 || w.gh.Requests() != 1 {
		t.Fatalf("mints %d, requests %d; want 1 and 1 (no lookup with installationID)", len(mints), w.gh.Requests())
	}
	if got := strings.Join(mints[0].Repositories, ","); got != "app,base" {
		t.Errorf("token repositories %q, want app,base", got)
	}
	ghcrOnlyAuth(t, resp, "ghcr.io/my-org")
}

func TestGHCRTwoOwnersTwoSources(t *testing.T) {
	w := newGHCRWorld(t)
	tokenFile := harness.WriteFile(t, w.dir, "ghcr-token", "ghp_personalToken1\n", 0o600)
	cfg := w.config(t, map[string]any{"owners": map[string]any{
		"my-org":  w.appSource(nil),
		"my-user": map[string]any{"token": map[string]any{"tokenFile": tokenFile, "username": "octocat", "cacheDuration": "2m"}},
	}})
	// Back to back, interleaved, in one cache dir: kubelet could have both
	// answers in its cache at once.
	for round := 0; round < 2; round++ {
		org := w.run(t, cfg, "ghcr.io/my-org/app").Decode(t)
		user := w.run(t, cfg, "ghcr.io/my-user/app").Decode(t)
		mints := w.gh.Mints()
		if len(mints) != 1 {
			t.Fatalf("round %d: mints %d, want 1", round, len(mints))
		}
		if a := ghcrOnlyAuth(t, org, "ghcr.io/my-org"); a.Username != "x-access-token" || a.Password != mints[0].Token {
			t.Errorf("round %d: my-org did not get the App token", round)
		}
		if a := ghcrOnlyAuth(t, user, "ghcr.io/my-user"); a.Username != "octocat" || a.Password != "ghp_personalToken1" {
			t.Errorf("round %d: my-user did not get its token file's token", round)
		}
		if user.CacheDuration != "2m0s" {
			t.Errorf("token cacheDuration %q, want 2m0s", user.CacheDuration)
		}
	}
	// kubelet matches an auth key's path as a plain prefix, so the key
	// ghcr.io/my-org also prefixes ghcr.io/my-orgcorp/app. cacheKeyType
	// Image (checked above) keeps kubelet from reusing my-org's answer for
	// that image: it asks pullkey, and my-orgcorp, which has no source,
	// gets nothing.
	other := w.run(t, cfg, "ghcr.io/my-orgcorp/app").Decode(t)
	if len(other.Auth) != 0 {
		t.Errorf("my-orgcorp got credentials %v", ghcrKeys(other))
	}
}

func TestGHCRTokenFileRotation(t *testing.T) {
	w := newGHCRWorld(t)
	tokenFile := harness.WriteFile(t, w.dir, "ghcr-token", "ghp_first\n", 0o600)
	cfg := w.config(t, map[string]any{"owners": map[string]any{
		"my-org": map[string]any{"token": map[string]any{"tokenFile": tokenFile}},
	}})
	first := w.run(t, cfg, "ghcr.io/my-org/app").Decode(t)
	if a := ghcrOnlyAuth(t, first, "ghcr.io/my-org"); a.Password != "ghp_first" || a.Username != "x-access-token" {
		t.Fatalf("first answer user %q, right token %v", a.Username, a.Password == "ghp_first")
	}
	if first.CacheDuration != "5m0s" {
		t.Errorf("cacheDuration %q, want the 5m default", first.CacheDuration)
	}
	harness.WriteFile(t, w.dir, "ghcr-token", "ghp_second", 0o600)
	second := w.run(t, cfg, "ghcr.io/my-org/app").Decode(t)
	if a := ghcrOnlyAuth(t, second, "ghcr.io/my-org"); a.Password != "ghp_second" {
		t.Error("rotated token file not used on the next invocation")
	}
	if n := w.proxied.Load(); n != 0 {
		t.Errorf("token mode made %d network requests", n)
	}

	// A token file others can read is refused.
	harness.WriteFile(t, w.dir, "ghcr-token", "ghp_third", 0o644)
	res := w.run(t, cfg, "ghcr.io/my-org/app")
	ghcrCheckFailure(t, res, []string{"token file", "0644", "chmod 600"}, "ghp_third")
}

func TestGHCRNoSourceAndLookalikes(t *testing.T) {
	w := newGHCRWorld(t)
	cfg := w.config(t, map[string]any{
		"owners": map[string]any{"my-org": w.appSource(nil)},
		"enterprise": []any{map[string]any{
			"apiURL": "https://github.example.com/api/v3",
			"owners": map[string]any{"my-org": w.appSource(nil)},
		}},
	})
	for _, img := range []string{
		"ghcr.io/other-org/app",      // owner without a source
		"ghcr.io/my-orgx/app",        // configured owner is only a prefix
		"ghcr.io/my-org",             // no repository under the owner
		"ghcr.io.evil.io/my-org/app", // suffix lookalike
		"evil.io/ghcr.io/my-org/x",   // host in the path
		"containers.evil.io/my-org/app",
		"containers.github.example.com.evil.io/my-org/app",
		"GHCR.io/my-org/app", // not canonical
		"ghcr.io:443/my-org/app",
		"ghcr.io./my-org/app",
		"xghcr.io/my-org/app",
		"github.example.com/my-org/app", // the GHES host itself is no registry
		"my-org/app",                    // docker.io
	} {
		t.Run(img, func(t *testing.T) {
			resp := w.run(t, cfg, img).Decode(t)
			if len(resp.Auth) != 0 {
				t.Errorf("credentials for %s: %v", img, ghcrKeys(resp))
			}
		})
	}
	if n := w.proxied.Load(); n != 0 {
		t.Errorf("%d network requests for images nobody owns, want 0", n)
	}
}

// ghcrLocalhostTLS returns a TLS certificate for localhost and its PEM.
func ghcrLocalhostTLS(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestGHCREnterpriseServer points apiURL at a local HTTPS server, as a
// GitHub Enterprise Server user would at theirs; the registry is
// containers.<host>.
func TestGHCREnterpriseServer(t *testing.T) {
	w := newGHCRWorld(t)
	cert, certPEM := ghcrLocalhostTLS(t)
	var paths []string
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.gh.ServeHTTP(rw, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndexByte(port, ':')+1:]
	caFile := harness.WriteFile(t, w.dir, "ghes-ca.pem", string(certPEM), 0o644)

	cfg := w.config(t, map[string]any{"enterprise": []any{map[string]any{
		"apiURL": "https://localhost:" + port + "/api/v3",
		"owners": map[string]any{"my-org": w.appSource(nil)},
	}}})
	env := []string{"SSL_CERT_FILE=" + caFile}
	res := harness.Run(t, env, harness.Request("containers.localhost/my-org/app:2"), "--config", cfg, "--cache-dir", w.cache)
	resp := res.Decode(t)
	mints := w.gh.Mints()
	if len(mints) != 1 {
		t.Fatalf("mints %d, want 1", len(mints))
	}
	if a := ghcrOnlyAuth(t, resp, "containers.localhost/my-org"); a.Password != mints[0].Token {
		t.Error("GHES image did not get the minted token")
	}
	want := []string{"GET /api/v3/orgs/my-org/installation", "POST /api/v3/app/installations/4242/access_tokens"}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(paths, "|") != strings.Join(want, "|") {
		t.Errorf("GHES requests %v, want %v", paths, want)
	}
	// ghcr.io is not configured in this file: nobody's.
	if r := harness.Run(t, env, harness.Request("ghcr.io/my-org/app"), "--config", cfg, "--cache-dir", w.cache).Decode(t); len(r.Auth) != 0 {
		t.Error("ghcr.io answered although only GHES is configured")
	}
}

func TestGHCRConcurrentColdStart(t *testing.T) {
	w := newGHCRWorld(t)
	cfg := w.config(t, map[string]any{"owners": map[string]any{"my-org": w.appSource(nil)}})
	wave := func() []harness.Result {
		out := make([]harness.Result, 50)
		var wg sync.WaitGroup
		for i := range out {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i] = w.run(t, cfg, "ghcr.io/my-org/app"+string(rune('a'+i%26)))
			}()
		}
		wg.Wait()
		return out
	}
	for _, r := range wave() {
		if a := ghcrOnlyAuth(t, r.Decode(t), "ghcr.io/my-org"); a.Username != "x-access-token" {
			t.Fatalf("username %q", a.Username)
		}
	}
	if n := w.gh.MintCount(); n != 1 {
		t.Fatalf("first wave of 50 cold processes minted %d tokens, want 1", n)
	}
	for _, r := range wave() {
		r.Decode(t)
	}
	if n := w.gh.MintCount(); n != 1 {
		t.Errorf("second wave minted %d more tokens, want 0", n-1)
	}
}

// ghcrCheckFailure checks a failed run: exit 1, nothing on stdout, one
// stderr line naming the cause, and no secret on stderr.
func ghcrCheckFailure(t *testing.T, res harness.Result, want []string, secrets ...string) {
	t.Helper()
	if res.Code != 1 || res.Stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing", res.Code, res.Stdout)
	}
	for _, s := range want {
		if !strings.Contains(res.Stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, res.Stderr)
		}
	}
	ghcrNoSecrets(t, res.Stderr, secrets...)
}

// ghcrNoSecrets fails if stderr holds a JWT, a GitHub token, the App key
// or any of secrets.
func ghcrNoSecrets(t *testing.T, stderr string, secrets ...string) {
	t.Helper()
	for _, s := range append([]string{"eyJ", "ghs_", "PRIVATE KEY", "MII"}, secrets...) {
		if strings.Contains(stderr, s) {
			t.Errorf("stderr holds a secret (%.8s...):\n%s", s, stderr)
		}
	}
}

func TestGHCRGitHubFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failure ghstandin.Failure
		noPerm  bool
		// offset is the stand-in's clock against the node's.
		offset time.Duration
		want   []string
	}{
		{"bad credentials", ghstandin.BadCredentials, false, 0, []string{"401", "appID 123456", "private key"}},
		{"not installed", ghstandin.NotFound, false, 0, []string{"not installed on my-org", "install the App"}},
		{"rate limited", ghstandin.RateLimited, false, 0, []string{"rate limit", "resets at "}},
		{"node clock fast", ghstandin.OK, false, -3 * time.Minute, []string{"clock", "NTP"}},
		{"node clock slow", ghstandin.OK, false, 10 * time.Minute, []string{"clock", "NTP"}},
		{"hang", ghstandin.Hang, false, 0, []string{"did not answer", "api.github.com", "3s timeout"}},
		{"no packages permission", ghstandin.OK, true, 0, []string{"Packages: read", "422"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newGHCRWorld(t)
			if tc.noPerm {
				w.gh.AddInstallation(ghstandin.Installation{ID: ghcrInstID, Account: "my-org", Org: true, Permissions: map[string]string{"metadata": "read"}})
			}
			w.gh.SetFailure(tc.failure)
			w.gh.SetClockOffset(tc.offset)
			cfg := w.config(t, map[string]any{"owners": map[string]any{"my-org": w.appSource(nil)}})
			res := w.run(t, cfg, "ghcr.io/my-org/app", "--timeout", "3s", "-v")
			if res.Took > 3*time.Second+2*time.Second {
				t.Errorf("took %s with --timeout 3s", res.Took)
			}
			t.Logf("stderr: %s", res.Stderr)
			ghcrCheckFailure(t, res, append(tc.want, "ghcr: ghcr.io"))
			if tc.name == "rate limited" && !strings.Contains(res.Stderr, w.gh.RateLimitReset.UTC().Format(time.RFC3339)) {
				t.Errorf("stderr does not say when the limit resets (%s):\n%s", w.gh.RateLimitReset.UTC().Format(time.RFC3339), res.Stderr)
			}
			if w.gh.MintCount() != 0 {
				t.Error("a token was minted")
			}
		})
	}
}

func TestGHCRSecretsStayOffStderr(t *testing.T) {
	w := newGHCRWorld(t)
	tokenFile := harness.WriteFile(t, w.dir, "ghcr-token", "ghp_verySecretValue", 0o600)
	cfg := w.config(t, map[string]any{"owners": map[string]any{
		"my-org":  w.appSource(nil),
		"my-user": map[string]any{"token": map[string]any{"tokenFile": tokenFile}},
	}})
	for _, img := range []string{"ghcr.io/my-org/app", "ghcr.io/my-user/app"} {
		res := w.run(t, cfg, img, "-v")
		res.Decode(t)
		t.Logf("stderr at -v:\n%s", res.Stderr)
		ghcrNoSecrets(t, res.Stderr, "ghp_verySecretValue")
		if !strings.Contains(res.Stderr, "credential ready") {
			t.Errorf("-v did not log the lookup:\n%s", res.Stderr)
		}
	}
}

func TestGHCRKeyFileChecks(t *testing.T) {
	w := newGHCRWorld(t)
	if err := os.Chmod(w.keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := w.config(t, map[string]any{"owners": map[string]any{"my-org": w.appSource(nil)}})
	res := w.run(t, cfg, "ghcr.io/my-org/app")
	ghcrCheckFailure(t, res, []string{"private key file", w.keyPath, "0644", "chmod 600"})

	garbage := harness.WriteFile(t, w.dir, "not-a-key.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0o600)
	cfg = w.config(t, map[string]any{"owners": map[string]any{"my-org": map[string]any{"app": map[string]any{"appID": ghcrAppID, "privateKeyFile": garbage}}}})
	ghcrCheckFailure(t, w.run(t, cfg, "ghcr.io/my-org/app"), []string{"not a PEM RSA private key"})

	missing := filepath.Join(w.dir, "absent.pem")
	cfg = w.config(t, map[string]any{"owners": map[string]any{"my-org": map[string]any{"app": map[string]any{"appID": ghcrAppID, "privateKeyFile": missing}}}})
	ghcrCheckFailure(t, w.run(t, cfg, "ghcr.io/my-org/app"), []string{missing, "does not exist"})
	if n := w.proxied.Load(); n != 0 {
		t.Errorf("%d network requests with an unusable key", n)
	}
}

// TestGHCRDemoStandin runs the stand-in the way `make demo` does: behind
// the shared router, with the config section and images it declares.
func TestGHCRDemoStandin(t *testing.T) {
	d, err := ghstandin.NewDemo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	proxy := harness.StartProxy(t, standin.Router([]*standin.Demo{d}))
	b, err := json.Marshal(map[string]any{
		"apiVersion": "pullkey.dev/v1alpha1", "kind": "PullkeyConfig",
		"providers": map[string]json.RawMessage{d.Provider: d.Config},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := harness.WriteFile(t, t.TempDir(), "config.json", string(b), 0o600)
	env := append(proxy.Env(), d.Env...)
	for _, img := range d.Images {
		resp := harness.Run(t, env, harness.Request(img), "--config", cfg, "--cache-dir", t.TempDir()).Decode(t)
		if len(resp.Auth) != 1 || resp.CacheKeyType != "Image" {
			t.Errorf("%s: %+v", img, resp)
		}
	}
	if n := d.Calls.Load(); n != int64(len(d.Images)) {
		t.Errorf("demo counted %d mints for %d images", n, len(d.Images))
	}
}
