package ghcr

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-github/v60/github"
	"sigs.k8s.io/yaml"

	"github.com/pullkey/pullkey/providers"
	"github.com/pullkey/pullkey/providers/internal/httpx"
	"github.com/pullkey/pullkey/test/harness"
)

func mustNew(t *testing.T, cfg string) *Provider {
	t.Helper()
	p, err := New(json.RawMessage(cfg), providers.Env{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("New(%s): %v", cfg, err)
	}
	return p.(*Provider)
}

func TestConfigErrors(t *testing.T) {
	app := `{"app":{"appID":1,"privateKeyFile":"/k.pem"}}`
	for _, tc := range []struct{ cfg, want string }{
		{``, "configuration required"},
		{`null`, "configuration required"},
		{`{}`, "no owners"},
		{`{"owners":{"a":` + app + `},"extra":1}`, "unknown field"},
		{`{"owners":{"a":{}}}`, "owners.a: set app or token"},
		{`{"owners":{"a":{"app":{"appID":1,"privateKeyFile":"/k"},"token":{"tokenFile":"/t"}}}}`, "not both"},
		{`{"owners":{"a":{"app":{"privateKeyFile":"/k"}}}}`, "appID or clientID required"},
		{`{"owners":{"a":{"app":{"appID":1,"clientID":"Iv1.x","privateKeyFile":"/k"}}}}`, "appID or clientID, not both"},
		{`{"owners":{"a":{"app":{"appID":1}}}}`, "privateKeyFile: required"},
		{`{"owners":{"a":{"app":{"appID":1,"privateKeyFile":"k.pem"}}}}`, "absolute path"},
		{`{"owners":{"a":{"app":{"appID":1,"privateKeyFile":"/k","repositories":["o/r"]}}}}`, "not a repository name"},
		{`{"defaultSource":{"app":{"appID":1,"privateKeyFile":"/k","installationID":5}}}`, "not allowed in defaultSource"},
		{`{"owners":{"a":{"token":{}}}}`, "tokenFile: required"},
		{`{"owners":{"a":{"token":{"tokenFile":"/t","cacheDuration":"soon"}}}}`, "cacheDuration"},
		{`{"owners":{"-bad-":` + app + `}}`, "not a GitHub owner name"},
		{`{"owners":{"acme/x":` + app + `}}`, "not a GitHub owner name"},
		{`{"owners":{"Acme":` + app + `,"acme":` + app + `}}`, "listed twice"},
		{`{"enterprise":[{"owners":{"a":` + app + `}}]}`, "apiURL: required"},
		{`{"enterprise":[{"apiURL":"http://ghe.example.com/api/v3","owners":{"a":` + app + `}}]}`, "not an https URL"},
		{`{"enterprise":[{"apiURL":"https://10.0.0.1/api/v3","owners":{"a":` + app + `}}]}`, "DNS name"},
		{`{"enterprise":[{"apiURL":"https://GHE.example.com/api/v3","owners":{"a":` + app + `}}]}`, "DNS name"},
		{`{"enterprise":[{"apiURL":"https://ghe.example.com/","owners":{"a":` + app + `}}]}`, "path must be /api/v3"},
		{`{"enterprise":[{"apiURL":"https://api.github.com/api/v3","owners":{"a":` + app + `}}]}`, "top level"},
		{`{"enterprise":[{"apiURL":"https://ghe.example.com/api/v3"}]}`, "no owners"},
		{`{"enterprise":[{"apiURL":"https://ghe.example.com/api/v3","owners":{"a":` + app + `}},{"apiURL":"https://ghe.example.com:8443/api/v3","owners":{"a":` + app + `}}]}`, "configured twice"},
	} {
		_, err := New(json.RawMessage(tc.cfg), providers.Env{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%s) = %v, want error containing %q", tc.cfg, err, tc.want)
		}
	}
}

// TestREADMEExample decodes the configuration example the README shows.
func TestREADMEExample(t *testing.T) {
	block := harness.READMEExample(t, "ghcr")
	var doc struct {
		APIVersion string                     `json:"apiVersion"`
		Kind       string                     `json:"kind"`
		Providers  map[string]json.RawMessage `json:"providers"`
	}
	j, err := yaml.YAMLToJSON([]byte(block))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(j, &doc); err != nil || doc.Kind != "PullkeyConfig" {
		t.Fatalf("README example: %v (kind %q)", err, doc.Kind)
	}
	p := mustNew(t, string(doc.Providers[Name]))
	if got := strings.Join(p.Patterns(), ","); got != "containers.github.example.com,ghcr.io" {
		t.Errorf("README example patterns %s", got)
	}
}

func TestMatch(t *testing.T) {
	p := mustNew(t, `{
		"owners": {
			"My-Org": {"app": {"appID": 42, "privateKeyFile": "/k.pem"}},
			"acme": {"token": {"tokenFile": "/t", "cacheDuration": "3m"}}
		},
		"enterprise": [{
			"apiURL": "https://github.example.com/api/v3",
			"owners": {"corp": {"app": {"clientID": "Iv1.abc", "privateKeyFile": "/k.pem", "installationID": 9}}},
			"defaultSource": {"token": {"tokenFile": "/ghes-token"}}
		}]
	}`)
	appKey := []string{"ghcr.io", "my-org", "app\x0042\x000\x00"}
	for _, tc := range []struct {
		image string
		ok    bool
		want  providers.Scope
	}{
		{"ghcr.io/my-org/app:1", true, providers.Scope{AuthKey: "ghcr.io/my-org", KeyType: providers.KeyImage, CacheKey: appKey}},
		{"ghcr.io/My-Org/app", true, providers.Scope{AuthKey: "ghcr.io/My-Org", KeyType: providers.KeyImage, CacheKey: appKey}},
		{"ghcr.io/MY-ORG/team/app@sha256:" + strings.Repeat("a", 64), true, providers.Scope{AuthKey: "ghcr.io/MY-ORG", KeyType: providers.KeyImage, CacheKey: appKey}},
		{"ghcr.io/acme/app", true, providers.Scope{AuthKey: "ghcr.io/acme", KeyType: providers.KeyImage, UnknownExpiryTTL: 3 * time.Minute}},
		{"containers.github.example.com/corp/app", true, providers.Scope{AuthKey: "containers.github.example.com/corp", KeyType: providers.KeyImage,
			CacheKey: []string{"containers.github.example.com", "corp", "app\x00Iv1.abc\x009\x00"}}},
		{"containers.github.example.com/anyone/app", true, providers.Scope{AuthKey: "containers.github.example.com/anyone", KeyType: providers.KeyImage, UnknownExpiryTTL: DefaultTokenCacheDuration}},
		{"ghcr.io/acmecorp/app", false, providers.Scope{}}, // no default on ghcr.io
		{"ghcr.io/other/app", false, providers.Scope{}},
		{"ghcr.io/my-org", false, providers.Scope{}},
		{"ghcr.io/my_org/app", false, providers.Scope{}},
		{"ghcr.io:443/my-org/app", false, providers.Scope{}},
		{"GHCR.IO/my-org/app", false, providers.Scope{}},
		{"ghcr.io.evil.io/my-org/app", false, providers.Scope{}},
		{"evil.io/ghcr.io/my-org/app", false, providers.Scope{}},
		{"containers.evil.io/corp/app", false, providers.Scope{}},
		{"github.example.com/corp/app", false, providers.Scope{}},
		{"containers.github.example.com:443/corp/app", false, providers.Scope{}},
		{"my-org/app", false, providers.Scope{}},
	} {
		img, err := providers.ParseImage(tc.image)
		if err != nil {
			t.Fatalf("ParseImage(%q): %v", tc.image, err)
		}
		got, ok := p.Match(img)
		if ok != tc.ok || got.AuthKey != tc.want.AuthKey || got.KeyType != tc.want.KeyType ||
			strings.Join(got.CacheKey, "|") != strings.Join(tc.want.CacheKey, "|") || (got.CacheKey == nil) != (tc.want.CacheKey == nil) ||
			got.UnknownExpiryTTL != tc.want.UnknownExpiryTTL {
			t.Errorf("Match(%s) = %+v, %v; want %+v, %v", tc.image, got, ok, tc.want, tc.ok)
		}
		if ok {
			if _, _, _, err := (providers.Set{p}).Select(img); err != nil {
				t.Errorf("Select(%s): %v", tc.image, err)
			}
		}
	}
}

// testKey is generated once for the package's tests.
var testKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func writeKey(t *testing.T, mode os.FileMode) string {
	t.Helper()
	key, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return harness.WriteFile(t, t.TempDir(), "app.pem", string(b), mode)
}

// fakeApps is a func-field fake of the GitHub Apps API.
type fakeApps struct {
	findOrg  func(ctx context.Context, org string) (*github.Installation, *github.Response, error)
	findUser func(ctx context.Context, user string) (*github.Installation, *github.Response, error)
	create   func(ctx context.Context, id int64, opts *github.InstallationTokenOptions) (*github.InstallationToken, *github.Response, error)
}

func (f *fakeApps) FindOrganizationInstallation(ctx context.Context, org string) (*github.Installation, *github.Response, error) {
	return f.findOrg(ctx, org)
}
func (f *fakeApps) FindUserInstallation(ctx context.Context, user string) (*github.Installation, *github.Response, error) {
	return f.findUser(ctx, user)
}
func (f *fakeApps) CreateInstallationToken(ctx context.Context, id int64, opts *github.InstallationTokenOptions) (*github.InstallationToken, *github.Response, error) {
	return f.create(ctx, id, opts)
}

// ghErr is an error as go-github returns it for an answer with status.
func ghErr(status int, msg string, header map[string]string) error {
	h := http.Header{}
	for k, v := range header {
		h.Set(k, v)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://api.github.com/x", nil)
	return &github.ErrorResponse{Response: &http.Response{StatusCode: status, Header: h, Request: req}, Message: msg}
}

func notFound(context.Context, string) (*github.Installation, *github.Response, error) {
	return nil, nil, ghErr(404, "Not Found", nil)
}

func TestFetchApp(t *testing.T) {
	keyPath := writeKey(t, 0o600)
	key, _ := testKey()
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	now := time.Date(2030, 1, 2, 2, 4, 5, 0, time.UTC)
	type result struct {
		lookups []string
		opts    *github.InstallationTokenOptions
		id      int64
	}
	for _, tc := range []struct {
		name      string
		source    string
		fake      func(r *result) *fakeApps
		wantErr   string
		wantCalls string
	}{
		{
			name:   "org installation",
			source: `{"app":{"appID":42,"privateKeyFile":"` + keyPath + `"}}`,
			fake: func(r *result) *fakeApps {
				return &fakeApps{
					findOrg: func(_ context.Context, org string) (*github.Installation, *github.Response, error) {
						r.lookups = append(r.lookups, "org:"+org)
						return &github.Installation{ID: github.Int64(7)}, nil, nil
					},
				}
			},
			wantCalls: "org:my-org",
		},
		{
			name:   "user installation after org 404",
			source: `{"app":{"appID":42,"privateKeyFile":"` + keyPath + `"}}`,
			fake: func(r *result) *fakeApps {
				return &fakeApps{
					findOrg: func(ctx context.Context, org string) (*github.Installation, *github.Response, error) {
						r.lookups = append(r.lookups, "org:"+org)
						return notFound(ctx, org)
					},
					findUser: func(_ context.Context, user string) (*github.Installation, *github.Response, error) {
						r.lookups = append(r.lookups, "user:"+user)
						return &github.Installation{ID: github.Int64(7)}, nil, nil
					},
				}
			},
			wantCalls: "org:my-org,user:my-org",
		},
		{
			name:   "configured installation and repositories",
			source: `{"app":{"clientID":"Iv1.abc","privateKeyFile":"` + keyPath + `","installationID":7,"repositories":["app"]}}`,
			fake:   func(r *result) *fakeApps { return &fakeApps{} },
		},
		{
			name:   "not installed",
			source: `{"app":{"appID":42,"privateKeyFile":"` + keyPath + `"}}`,
			fake: func(r *result) *fakeApps {
				return &fakeApps{findOrg: notFound, findUser: notFound}
			},
			wantErr: "GitHub App 42 is not installed on my-org",
		},
		{
			name:   "5xx is retried",
			source: `{"app":{"appID":42,"privateKeyFile":"` + keyPath + `"}}`,
			fake: func(r *result) *fakeApps {
				return &fakeApps{findOrg: func(_ context.Context, org string) (*github.Installation, *github.Response, error) {
					r.lookups = append(r.lookups, "org:"+org)
					if len(r.lookups) < 3 {
						return nil, nil, ghErr(502, "", nil)
					}
					return &github.Installation{ID: github.Int64(7)}, nil, nil
				}}
			},
			wantCalls: "org:my-org,org:my-org,org:my-org",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, `{"owners":{"my-org":`+tc.source+`}}`)
			p.now = func() time.Time { return now }
			var r result
			fake := tc.fake(&r)
			fake.create = func(_ context.Context, id int64, opts *github.InstallationTokenOptions) (*github.InstallationToken, *github.Response, error) {
				r.id, r.opts = id, opts
				return &github.InstallationToken{Token: github.String("ghs_minted"), ExpiresAt: &github.Timestamp{Time: expires}}, nil, nil
			}
			var gotJWT string
			p.newAPI = func(apiURL, signed string, _ time.Duration) (apps, error) {
				if apiURL != GitHubAPI {
					t.Errorf("apiURL %s", apiURL)
				}
				gotJWT = signed
				return fake, nil
			}
			img, _ := providers.ParseImage("ghcr.io/my-org/app")
			cred, err := p.Fetch(context.Background(), img)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cred.Username != "x-access-token" || cred.Password.Reveal() != "ghs_minted" || !cred.ExpiresAt.Equal(expires) {
				t.Errorf("credential %+v", cred)
			}
			if got := strings.Join(r.lookups, ","); got != tc.wantCalls {
				t.Errorf("lookups %q, want %q", got, tc.wantCalls)
			}
			if r.id != 7 || r.opts.Permissions.GetPackages() != "read" {
				t.Errorf("token request id %d permissions %+v", r.id, r.opts.Permissions)
			}
			var claims jwt.RegisteredClaims
			if _, err := jwt.ParseWithClaims(gotJWT, &claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
				jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now })); err != nil {
				t.Fatalf("JWT does not verify: %v", err)
			}
			wantIss := "42"
			if strings.Contains(tc.source, "clientID") {
				wantIss = "Iv1.abc"
				if strings.Join(r.opts.Repositories, ",") != "app" {
					t.Errorf("repositories %v", r.opts.Repositories)
				}
			}
			if claims.Issuer != wantIss || !claims.IssuedAt.Equal(now.Add(-time.Minute)) || !claims.ExpiresAt.Equal(now.Add(9*time.Minute)) {
				t.Errorf("claims iss %s iat %s exp %s", claims.Issuer, claims.IssuedAt, claims.ExpiresAt)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	a := &AppSource{AppID: 42}
	reset := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	for _, tc := range []struct {
		name string
		err  error
		op   string
		want []string
	}{
		{"bad credentials", ghErr(401, "Bad credentials", nil), "lookup", []string{"401", "appID 42", "private key"}},
		{"iat", ghErr(401, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.", nil), "lookup", []string{"clock", "NTP"}},
		{"exp", ghErr(401, "'Expiration time' claim ('exp') is too far in the future", nil), "token", []string{"clock", "NTP"}},
		{"rate limit", &github.RateLimitError{Response: &http.Response{StatusCode: 403, Header: http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {strconv.FormatInt(reset.Unix(), 10)}}}},
			"lookup", []string{"rate limiting", "resets at " + reset.UTC().Format(time.RFC3339)}},
		{"secondary rate limit", ghErr(429, "You have exceeded a secondary rate limit", map[string]string{"Retry-After": "60"}), "token", []string{"rate limiting", "retry after 60s"}},
		{"permission", ghErr(422, "The permissions requested are not granted to this installation.", nil), "token", []string{"Packages: read", "422"}},
		{"forbidden token", ghErr(403, "Resource not accessible by integration", nil), "token", []string{"Packages: read", "403"}},
		{"installation gone", ghErr(404, "Not Found", nil), "token", []string{"installation 7", "check installationID"}},
		{"server error", ghErr(503, "", nil), "token", []string{"503", "GitHub may be down"}},
		{"deadline", context.DeadlineExceeded, "token", []string{"did not answer", "5s timeout"}},
		{"too large", httpx.ErrBodyTooLarge, "lookup", []string{"oversized"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := explain(tc.err, call{host: "api.github.com", op: tc.op, owner: "my-org", app: a, installation: 7, timeout: 5 * time.Second})
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "must be an Integer") || strings.Contains(err.Error(), "too far") || strings.Contains(err.Error(), "Resource not accessible") {
				t.Errorf("GitHub's message leaked into the error: %q", err)
			}
		})
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want, wantErr string
	}{
		{"trimmed", "ghp_abc\n", 0o600, "ghp_abc", ""},
		{"empty", " \n", 0o600, "", "is empty"},
		{"two lines", "ghp_a\nghp_b\n", 0o600, "", "more than one line"},
		{"world readable", "ghp_abc", 0o644, "", "chmod 600"},
		{"group readable", "ghp_abc", 0o640, "", "chmod 600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := harness.WriteFile(t, dir, strings.ReplaceAll(tc.name, " ", "-"), tc.content, tc.mode)
			c, err := readToken(&TokenSource{TokenFile: path})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "ghp_") {
					t.Fatalf("err %v, want %q and no token", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.Password.Reveal() != tc.want || c.Username != DefaultTokenUsername || !c.ExpiresAt.IsZero() {
				t.Errorf("got %+v, %v", c, err)
			}
		})
	}
}

func TestLoadKeyRefusesReadableFile(t *testing.T) {
	if _, err := loadKey(writeKey(t, 0o644)); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("0644 key: %v", err)
	}
	if _, err := loadKey(writeKey(t, 0o600)); err != nil {
		t.Errorf("0600 key: %v", err)
	}
}
