package dockerconfig

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pullkey/pullkey/providers"
	"github.com/pullkey/pullkey/test/harness"
)

func TestParse(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, in string
		want     map[string]string // registry → user:password
		wantErr  string
	}{
		{name: "auth", in: `{"auths":{"registry.example.com":{"auth":"` + b64("robot:pw:with:colons") + `"}}}`,
			want: map[string]string{"registry.example.com": "robot:pw:with:colons"}},
		{name: "username and password", in: `{"auths":{"localhost:5000":{"username":"u","password":"p"}}}`,
			want: map[string]string{"localhost:5000": "u:p"}},
		{name: "url keys and docker hub", in: `{"auths":{"https://index.docker.io/v1/":{"username":"u","password":"p"},"https://r.example.com/v2/":{"username":"a","password":"b"}},"credsStore":"desktop"}`,
			want: map[string]string{"docker.io": "u:p", "r.example.com": "a:b"}},
		{name: "empty auths", in: `{"auths":{}}`, want: map[string]string{}},
		{name: "two entries for one registry", in: `{"auths":{"r.io/team-a":{"username":"a","password":"p"},"https://r.io/team-b":{"username":"b","password":"q"}}}`,
			wantErr: `auths["https://r.io/team-b"] and auths["r.io/team-a"] are both for registry r.io`},
		{name: "bad json", in: `{"auths":`, wantErr: "invalid JSON"},
		{name: "not a docker config", in: `[1,2]`, wantErr: "not a docker config.json"},
		{name: "bad base64", in: `{"auths":{"r.io":{"auth":"%%%"}}}`, wantErr: `auths["r.io"].auth is not base64`},
		{name: "no colon", in: `{"auths":{"r.io":{"auth":"` + b64("nocolon") + `"}}}`, wantErr: "base64(user:password)"},
		{name: "no password", in: `{"auths":{"r.io":{"username":"u"}}}`, wantErr: "no username and password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "nocolon") || strings.Contains(err.Error(), "pw") {
					t.Fatalf("error leaks a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d entries, want %d", len(got), len(tt.want))
			}
			for reg, up := range tt.want {
				c := got[reg]
				if c.Username+":"+c.Password.Reveal() != up {
					t.Errorf("%s: got %s:%s, want %s", reg, c.Username, c.Password.Reveal(), up)
				}
			}
		})
	}
}

func TestProviderMatchesListedRegistriesOnly(t *testing.T) {
	dir := t.TempDir()
	path := harness.WriteFile(t, dir, "config.json", `{"auths":{"registry.example.com":{"username":"u","password":"p"},"localhost:5000":{"username":"l","password":"q"}}}`, 0o600)
	raw, _ := json.Marshal(Config{Path: path})
	p, err := Factory.New(raw, providers.Env{})
	if err != nil {
		t.Fatal(err)
	}
	for image, want := range map[string]bool{
		"registry.example.com/a":       true,
		"localhost:5000/a":             true,
		"localhost/a":                  false,
		"registry.example.com:443/a":   false,
		"registry.example.com.evil/a":  false,
		"evil.io/registry.example.com": false,
	} {
		img, err := providers.ParseImage(image)
		if err != nil {
			t.Fatal(err)
		}
		scope, ok := p.Match(img)
		if ok != want {
			t.Errorf("Match(%s) = %v, want %v", image, ok, want)
			continue
		}
		if ok {
			c, err := p.Fetch(context.Background(), img)
			if err != nil || scope.AuthKey != img.Registry() || scope.CacheKey != nil || c.Password == "" {
				t.Errorf("%s: scope %+v cred err %v", image, scope, err)
			}
		}
	}
}

func TestFactoryRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	loose := harness.WriteFile(t, dir, "loose.json", `{"auths":{}}`, 0o644)
	for raw, want := range map[string]string{
		`{}`:                                   "path: required",
		`{"path":"/x","extra":1}`:              `unknown field "extra"`,
		`{"path":"` + loose + `"}`:             "chmod 600",
		`{"path":"/nonexistent/x.json"}`:       "does not exist",
		`{"path":"/x","cacheDuration":"soon"}`: "cacheDuration",
	} {
		if _, err := Factory.New(json.RawMessage(raw), providers.Env{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%s) = %v, want error containing %q", raw, err, want)
		}
	}
}
