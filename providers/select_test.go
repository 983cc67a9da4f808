package providers

import (
	"context"
	"strings"
	"testing"
)

// fakeProvider owns exactly one host and answers with a scripted scope.
type fakeProvider struct {
	name  string
	host  string
	scope func(img Image) Scope
}

func (f fakeProvider) Name() string       { return f.name }
func (f fakeProvider) Patterns() []string { return []string{f.host} }
func (f fakeProvider) Match(img Image) (Scope, bool) {
	if img.Host != f.host || img.Port != "" || !IsCanonicalHost(img.Host) {
		return Scope{}, false
	}
	return f.scope(img), true
}
func (f fakeProvider) Fetch(context.Context, Image) (Credential, error) { return Credential{}, nil }

func registryScope(img Image) Scope { return Scope{AuthKey: img.Registry(), KeyType: KeyRegistry} }

func TestSelectWholeHostOnly(t *testing.T) {
	set := Set{
		fakeProvider{name: "acr", host: "myregistry.azurecr.io", scope: registryScope},
		fakeProvider{name: "first-wins", host: "myregistry.azurecr.io", scope: registryScope},
		fakeProvider{name: "ghcr", host: "ghcr.io", scope: func(img Image) Scope {
			return Scope{AuthKey: img.Registry() + "/" + img.Owner(), KeyType: KeyImage}
		}},
	}
	tests := []struct {
		image string
		want  string // provider name, "" for none
	}{
		{"myregistry.azurecr.io/web", "acr"},
		{"myregistry.azurecr.io/team/web:v1", "acr"},
		{"ghcr.io/acme/app", "ghcr"},
		// lookalikes
		{"myregistry.azurecr.io.evil.io/web", ""},
		{"evil.io/myregistry.azurecr.io/web", ""},
		{"evil.io/myregistry.azurecr.io", ""},
		{"xmyregistry.azurecr.io/web", ""},
		{"MyRegistry.azurecr.io/web", ""},
		{"myregistry.azurecr.io./web", ""},
		{"myregistry.azurecr.io:443/web", ""},
		{"user@myregistry.azurecr.io/web", ""},
		{"myregistry.azurecr.io@evil.io/web", ""},
		{"myregistrу.azurecr.io/web", ""}, // Cyrillic у
		{"xn--myregistr-xyz.azurecr.io/web", ""},
		{"ghcr.io.evil.io/acme/app", ""},
		{"evil.io/ghcr.io/acme/app", ""},
		{"GHCR.io/acme/app", ""},
		{"ghcr.io:443/acme/app", ""},
		{"nginx", ""},
		{"docker.io/library/nginx", ""},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			img, err := ParseImage(tt.image)
			if err != nil {
				t.Fatal(err)
			}
			p, _, ok, err := set.Select(img)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if ok {
				got = p.Name()
			}
			if got != tt.want {
				t.Errorf("Select(%q) = %q, want %q", tt.image, got, tt.want)
			}
		})
	}
}

func TestSelectRefusesScopesForOtherRegistries(t *testing.T) {
	img, _ := ParseImage("ghcr.io/acme/app")
	for name, scope := range map[string]Scope{
		"other host":             {AuthKey: "evil.io", KeyType: KeyRegistry},
		"host prefix":            {AuthKey: "ghcr.io.evil.io", KeyType: KeyRegistry},
		"other owner":            {AuthKey: "ghcr.io/other", KeyType: KeyImage},
		"per-path Registry type": {AuthKey: "ghcr.io/acme", KeyType: KeyRegistry},
		"no key type":            {AuthKey: "ghcr.io"},
		"glob":                   {AuthKey: "*.io", KeyType: KeyRegistry},
	} {
		t.Run(name, func(t *testing.T) {
			set := Set{fakeProvider{name: "bad", host: "ghcr.io", scope: func(Image) Scope { return scope }}}
			if _, _, _, err := set.Select(img); err == nil || !strings.Contains(err.Error(), "provider bad") {
				t.Fatalf("Select accepted %+v (err %v)", scope, err)
			}
		})
	}
}

func TestSecretIsRedacted(t *testing.T) {
	s := Secret("hunter2")
	for _, got := range []string{s.String(), s.GoString(), s.LogValue().String()} {
		if strings.Contains(got, "hunter2") {
			t.Fatalf("leaked: %q", got)
		}
	}
	if b, _ := s.MarshalText(); strings.Contains(string(b), "hunter2") {
		t.Fatal("leaked through MarshalText")
	}
	if s.Reveal() != "hunter2" {
		t.Fatal("Reveal")
	}
}
